import Testing
@testable import Descent

/// Schedules on cases worked out by hand, and their all-or-nothing contract. (Equality
/// with torch's lr sequences is in Tests/python/test_lr_scheduler.py.)
@Suite struct ScheduleTests {
    func optimizer(lrs: [Double]) throws -> Optimizer {
        let opt = try Optimizer(algorithm: .sgd)
        for lr in lrs {
            var hp = Hyperparameters.defaults(for: .sgd)
            hp[.lr] = lr
            try opt.addGroup(hp)
        }
        return opt
    }

    @Test func stepLRDecaysEveryGroupOnItsSteps() throws {
        let opt = try optimizer(lrs: [1.0, 0.5])
        let schedule = try StepLR(opt, stepSize: 2, gamma: 0.5)
        var seen: [[Double]] = [schedule.lastLR]
        for _ in 0..<4 {
            try schedule.step()
            seen.append(schedule.lastLR)
        }
        #expect(seen == [[1, 0.5], [1, 0.5], [0.5, 0.25], [0.5, 0.25], [0.25, 0.125]])
        #expect(try opt.value(of: .lr, inGroup: 1) == 0.125)
    }

    @Test func savedStateResumesOnAFreshOptimizer() throws {
        let first = try CosineAnnealingWarmRestarts(try optimizer(lrs: [0.1]), t0: 3, tMult: 2)
        for _ in 0..<5 { try first.step() }
        let second = try CosineAnnealingWarmRestarts(try optimizer(lrs: [0.1]), t0: 3, tMult: 2)
        try second.loadState(first.saveState())
        #expect(try second.optimizer.value(of: .lr, inGroup: 0) == first.lastLR[0])
        for _ in 0..<10 {
            try first.step()
            try second.step()
            #expect(second.lastLR == first.lastLR)
        }
    }

    @Test func aFailingStepChangesNothing() throws {
        let opt = try optimizer(lrs: [1.0])
        let schedule = try LambdaLR(opt) { (_: Int, epoch: Int64) throws(DescentError) -> Double in
            if epoch == 2 { throw DescentError(.callbackFailed, "no") }
            return epoch == 1 ? 0.5 : 1.0
        }
        try schedule.step()
        let before = (schedule.saveState(), try opt.hyperparameters(ofGroup: 0))
        #expect(throws: DescentError(.callbackFailed, "no")) { try schedule.step() }
        #expect(schedule.saveState() == before.0)
        #expect(try opt.hyperparameters(ofGroup: 0) == before.1)
        #expect(schedule.lastEpoch == 1)
    }

    @Test func aCorruptStateIsRefusedWhole() throws {
        let schedule = try CyclicLR(try optimizer(lrs: [0.1, 0.2]), baseLR: [0.01], maxLR: [0.1], stepSizeUp: 4)
        let state = schedule.saveState()
        for cut in [0, 7, 8, state.count / 2, state.count - 1] {
            #expect(throws: DescentError.self) { try schedule.loadState(Array(state[..<cut])) }
        }
        #expect(schedule.saveState() == state)
    }
}
