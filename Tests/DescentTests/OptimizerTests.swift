import Testing
@testable import Descent

/// Groups, buffers, skipped parameters, atomic failures, and update rules on cases that
/// can be worked out by hand. (Parity with torch itself is in Tests/parity.)
@Suite struct OptimizerTests {
    /// Owns float buffers for a test; freed at the end.
    final class Buffers {
        private var storage: [UnsafeMutablePointer<Float>] = []
        func make(_ values: [Float]) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
            pointer.initialize(from: values, count: values.count)
            storage.append(pointer)
            return pointer
        }
        deinit { storage.forEach { $0.deallocate() } }
    }

    func sgd(lr: Double, momentum: Double = 0) -> Hyperparameters {
        var hp = Hyperparameters.defaults(for: .sgd)
        hp[.lr] = lr
        hp[.momentum] = momentum
        return hp
    }

    @Test func groupsDefaultToTheOptimizerDefaults() throws {
        let opt = try Optimizer(algorithm: .sgd, defaults: sgd(lr: 0.5))
        try opt.addGroup()
        try opt.addGroup(sgd(lr: 0.25))
        #expect(try opt.value(of: .lr, inGroup: 0) == 0.5)
        #expect(try opt.value(of: .lr, inGroup: 1) == 0.25)
        #expect(throws: DescentError.self) { try opt.value(of: .lr, inGroup: 2) }
    }

    @Test func failedSetChangesNothing() throws {
        let opt = try Optimizer(algorithm: .sgd, defaults: sgd(lr: 0.1, momentum: 0.9))
        try opt.addGroup()
        #expect(throws: DescentError(.invalidHyperparameter, "Invalid learning rate: -2.0")) {
            try opt.set(.lr, to: -2, inGroup: 0)
        }
        try opt.set(.nesterov, to: 1, inGroup: 0)
        // Momentum 0 would break nesterov: rejected as a whole, momentum stays.
        #expect(throws: DescentError.self) { try opt.set(.momentum, to: 0, inGroup: 0) }
        #expect(try opt.value(of: .momentum, inGroup: 0) == 0.9)
        #expect(try opt.value(of: .lr, inGroup: 0) == 0.1)
    }

    @Test func optionsBelongToTheirAlgorithm() throws {
        let opt = try Optimizer(algorithm: .adagrad)
        try opt.addGroup()
        #expect(throws: DescentError(.unknownOption, "Adagrad has no hyperparameter 'betas[0]'")) {
            try opt.value(of: .beta1, inGroup: 0)
        }
        #expect(try opt.value(of: .eps, inGroup: 0) == 1e-10)
    }

    @Test func overlapAndDuplicates() throws {
        let buffers = Buffers()
        let a = buffers.make(Array(repeating: 0, count: 32))
        let opt = try Optimizer(algorithm: .sgd)
        try opt.addGroup()
        try opt.addParameter(group: 0, param: a, grad: nil, count: 8)
        try opt.addParameter(group: 0, param: a + 16, grad: nil, count: 8)
        #expect(throws: DescentError(.duplicateParameter, "param is already registered (parameter 1)")) {
            try opt.addParameter(group: 0, param: a + 16, grad: nil, count: 8)
        }
        #expect(throws: DescentError(.overlap, "param overlaps registered parameter 0")) {
            try opt.addParameter(group: 0, param: a + 7, grad: nil, count: 2)
        }
        #expect(throws: DescentError(.overlap, "param overlaps registered parameter 1")) {
            try opt.addParameter(group: 0, param: a + 9, grad: nil, count: 8)
        }
        // Exactly between the two: fits.
        try opt.addParameter(group: 0, param: a + 8, grad: a + 24, count: 8)
        #expect(throws: DescentError.self) { try opt.setGradient(a + 20, ofParameter: 0) }
        #expect(opt.parameterCount == 3)
    }

    @Test func sgdIsExact() throws {
        let buffers = Buffers()
        let p = buffers.make([1, 2]), g = buffers.make([0.5, -0.5])
        let opt = try Optimizer(algorithm: .sgd, defaults: sgd(lr: 0.5, momentum: 0.5))
        try opt.addGroup()
        try opt.addParameter(group: 0, param: p, grad: g, count: 2)
        try opt.step()   // buffer = g (a copy on the first step); p -= lr * buffer
        #expect(p[0] == 0.75 && p[1] == 2.25)
        #expect(try opt.state(named: "momentum_buffer", ofParameter: 0)?[0] == 0.5)
        try opt.step()   // buffer = 0.5 * 0.5 + 0.5 = 0.75
        #expect(p[0] == 0.375 && p[1] == 2.625)
        #expect(try opt.stepCount(ofParameter: 0) == 2)
    }

    @Test func adamWDecaysWithoutGradient() throws {
        // With a zero gradient the moments stay 0 and AdamW only decays: p *= 1 - lr * wd.
        let buffers = Buffers()
        let p = buffers.make([3, -3]), g = buffers.make([0, 0])
        var hp = Hyperparameters.defaults(for: .adamW)
        hp[.lr] = 0.1
        hp[.weightDecay] = 0.5
        let opt = try Optimizer(algorithm: .adamW, defaults: hp)
        try opt.addGroup()
        try opt.addParameter(group: 0, param: p, grad: g, count: 2)
        try opt.step()
        #expect(p[0] == 3 * Float(0.95) && p[1] == -3 * Float(0.95))
    }

    @Test func adamFirstStepMovesByLearningRate() throws {
        // Step 1: m̂ = g, v̂ = g², so the update is lr * g / (|g| + eps) ≈ lr * sign(g).
        let buffers = Buffers()
        let p = buffers.make([0, 0, 0]), g = buffers.make([4, -0.25, 0])
        let opt = try Optimizer(algorithm: .adam)
        try opt.addGroup()
        try opt.addParameter(group: 0, param: p, grad: g, count: 3)
        try opt.step()
        #expect(abs(p[0] + 1e-3) < 1e-9 && abs(p[1] - 1e-3) < 1e-9 && p[2] == 0)
    }

    /// torch fills every `sum` from the constructor's initial_accumulator_value: a group's
    /// own value, at its creation or later, is not used.
    @Test func adagradAccumulatorStartsAtTheOptimizersDefault() throws {
        let buffers = Buffers()
        let p = buffers.make([1]), q = buffers.make([1]), g = buffers.make([3])
        var hp = Hyperparameters.defaults(for: .adagrad)
        hp[.lr] = 1
        hp[.initialAccumulatorValue] = 16
        let opt = try Optimizer(algorithm: .adagrad, defaults: hp)
        try opt.addGroup()
        hp[.initialAccumulatorValue] = 1
        try opt.addGroup(hp)
        try opt.addParameter(group: 0, param: p, grad: g, count: 1)
        try opt.addParameter(group: 1, param: q, grad: g, count: 1)
        try opt.set(.initialAccumulatorValue, to: 0, inGroup: 0)
        try opt.step()   // sum = 16 + 9 = 25 for both; p = 1 - 3 / (5 + 1e-10)
        #expect(try opt.state(named: "sum", ofParameter: 0)?[0] == 25)
        #expect(try opt.state(named: "sum", ofParameter: 1)?[0] == 25)
        #expect(p[0] == 1 - Float(3) / Float(5))
    }

    @Test func skippedParametersKeepTheirStepCount() throws {
        let buffers = Buffers()
        let p = buffers.make([1]), q = buffers.make([1]), g = buffers.make([1])
        let opt = try Optimizer(algorithm: .rmsprop)
        try opt.addGroup()
        try opt.addParameter(group: 0, param: p, grad: g, count: 1)
        try opt.addParameter(group: 0, param: q, grad: nil, count: 1)
        try opt.step()
        try opt.step(gradients: [nil, UnsafePointer(g)])
        #expect(try opt.stepCount(ofParameter: 0) == 1)
        #expect(try opt.stepCount(ofParameter: 1) == 1)
        #expect(try opt.state(named: "momentum_buffer", ofParameter: 0) == nil)
        opt.zeroGrad()
        #expect(g[0] == 0)
    }

    @Test func wrongGradientCountChangesNothing() throws {
        let buffers = Buffers()
        let p = buffers.make([1]), g = buffers.make([1])
        let opt = try Optimizer(algorithm: .sgd, defaults: sgd(lr: 1))
        try opt.addGroup()
        try opt.addParameter(group: 0, param: p, grad: g, count: 1)
        #expect(throws: DescentError.self) { try opt.step(gradients: []) }
        #expect(p[0] == 1)
        #expect(try opt.stepCount(ofParameter: 0) == 0)
    }
}
