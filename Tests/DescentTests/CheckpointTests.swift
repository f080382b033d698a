import Testing
@testable import Descent

/// The checkpoint format on its own: exact resume, corruption caught anywhere, failed
/// loads that change nothing. (Every algorithm and schedule through the C ABI, files and
/// crashes are in Tests/c/test_checkpoint.c.)
@Suite struct CheckpointTests {
    /// An AdamW (amsgrad) optimizer over two groups and three parameters of its own
    /// memory, with a StepLR on it, a gradient drawn from `seed` per step.
    final class Run {
        let opt: Optimizer
        let schedule: StepLR
        let sizes = [5, 17, 3]
        var params: [UnsafeMutablePointer<Float>] = []
        var grads: [UnsafeMutablePointer<Float>] = []

        init(_ values: [[Float]]? = nil) throws {
            var hp = Hyperparameters.defaults(for: .adamW)
            hp.amsgrad = true
            opt = try Optimizer(algorithm: .adamW, defaults: hp)
            try opt.addGroup()
            hp.lr = 0.01
            try opt.addGroup(hp)
            for (i, size) in sizes.enumerated() {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: size)
                let g = UnsafeMutablePointer<Float>.allocate(capacity: size)
                for k in 0 ..< size { p[k] = values?[i][k] ?? Float(k) * 0.1 - 0.3 }
                g.initialize(repeating: 0, count: size)
                params.append(p)
                grads.append(g)
                try opt.addParameter(group: i == 2 ? 1 : 0, param: p, grad: g, count: size)
            }
            schedule = try StepLR(opt, stepSize: 2, gamma: 0.5)
        }

        func step(_ n: Int) throws {
            for _ in 0 ..< n {
                let t = Float(opt.parameters[0].step)
                for (g, size) in zip(grads, sizes) {
                    for k in 0 ..< size { g[k] = Float((k * 37 + Int(t) * 11) % 19) * 0.1 - 0.9 }
                }
                try opt.step()
                try schedule.step()
            }
        }

        var values: [[Float]] { zip(params, sizes).map { Array(UnsafeBufferPointer(start: $0, count: $1)) } }

        /// Parameters, state, step counts and lrs, bit for bit.
        var snapshot: [UInt32] {
            var bits = values.joined().map(\.bitPattern)
            for (i, size) in sizes.enumerated() {
                for name in ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] {
                    if let s = try! opt.state(named: name, ofParameter: i) {
                        bits += UnsafeBufferPointer(start: s, count: size).map(\.bitPattern)
                    }
                }
                bits.append(UInt32(try! opt.stepCount(ofParameter: i)))
            }
            bits += opt.groups.map { UInt32(truncatingIfNeeded: $0.lr.bitPattern) }
            return bits
        }

        deinit { (params + grads).forEach { $0.deallocate() } }
    }

    @Test func resumeIsExact() throws {
        let straight = try Run()
        try straight.step(7)
        let first = try Run()
        try first.step(4)
        let bytes = first.opt.checkpoint()
        #expect(bytes.count == first.opt.checkpointSize())
        let resumed = try Run(first.values)
        try bytes.withUnsafeBytes { try resumed.opt.loadCheckpoint($0) }
        #expect(resumed.schedule.lastEpoch == 4)
        try resumed.step(3)
        #expect(resumed.snapshot == straight.snapshot)
    }

    @Test func everyFlippedByteIsCaughtAndChangesNothing() throws {
        let source = try Run()
        try source.step(2)
        var bytes = source.opt.checkpoint()
        let target = try Run()
        try target.step(1)
        let before = target.snapshot
        for i in bytes.indices {
            bytes[i] ^= 0x20
            let error = bytes.withUnsafeBytes { raw in
                Result { () throws(DescentError) in try target.opt.loadCheckpoint(raw) }
            }
            bytes[i] ^= 0x20
            guard case .failure(let failure) = error else {
                Issue.record("byte \(i) flipped was accepted")
                continue
            }
            #expect(failure.kind == .corruptCheckpoint, "byte \(i): \(failure.message)")
        }
        #expect(target.snapshot == before)
        for cut in [0, 10, 24, 100, bytes.count - 1] {
            #expect(throws: DescentError.self) { try bytes[..<cut].withUnsafeBytes { try target.opt.loadCheckpoint($0) } }
        }
        #expect(target.snapshot == before)
    }

    @Test func mismatchesSayWhatDiffers() throws {
        let source = try Run()
        try source.step(1)
        let bytes = source.opt.checkpoint()
        let other = try Optimizer(algorithm: .adam)
        try other.addGroup()
        #expect(throws: DescentError(.mismatch, "checkpoint is of a AdamW optimizer, this one is Adam")) {
            try bytes.withUnsafeBytes { try other.loadCheckpoint($0) }
        }
        let fewer = try Optimizer(algorithm: .adamW)
        try fewer.addGroup()
        #expect(throws: DescentError(.mismatch, "checkpoint has 2 param groups, this optimizer has 1")) {
            try bytes.withUnsafeBytes { try fewer.loadCheckpoint($0) }
        }
        let target = try Run()
        let extra = try ExponentialLR(target.opt, gamma: 0.9)
        let before = target.snapshot
        #expect(throws: DescentError(.mismatch, "checkpoint has schedules [StepLR], this optimizer has [StepLR, ExponentialLR] (create the same schedules, in the same order, before loading)")) {
            try bytes.withUnsafeBytes { try target.opt.loadCheckpoint($0) }
        }
        #expect(target.snapshot == before)
        withExtendedLifetime(extra) {}
    }
}
