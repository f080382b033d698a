#if canImport(Glibc)
import Glibc
#endif
import Testing
import KernelInterface
@testable import Descent

/// The gradient passes: norms that do not depend on the thread count or the instruction
/// set, torch's clip arithmetic, and the phase's skip, error and zero semantics. (Parity
/// with torch's own functions is in Tests/parity/test_gradients.py.)
@Suite(.serialized) struct GradientTests {
    typealias Buffers = OptimizerTests.Buffers

    /// Sizes that cross chunks and leave every remainder mod 16.
    static let sizes = [1, 15, 16, 17, 33, 16_384 - 3, 40_000, 70_001]

    func gradients(_ buffers: Buffers, seed: UInt64) -> [(pointer: UnsafeMutablePointer<Float>?, count: Int)] {
        var state = seed
        return Self.sizes.map { size in
            let values = (0 ..< size).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 250_000
            }
            return (buffers.make(values), size)
        }
    }

    func withThreads<T>(_ count: Int, _ body: () throws -> T) throws -> T {
        let before = Runtime.threadCount
        try Runtime.setThreadCount(count)
        defer { try? Runtime.setThreadCount(before) }
        return try body()
    }

    @Test(arguments: [1.0, 2.0, 3.0, .infinity])
    func normIsTheSameBitsOnAnyThreadCountAndISA(p: Double) throws {
        let buffers = Buffers()
        let grads = try GradientBuffers(gradients(buffers, seed: 7))
        let reference = try withThreads(1) { try grads.totalNorm(normType: p) }
        for isa in InstructionSet.allCases where Runtime.isSupported(isa) {
            let before = Runtime.instructionSet
            try Runtime.setInstructionSet(isa)
            defer { try? Runtime.setInstructionSet(before) }
            for threads in [2, 3, 7] {
                #expect(try withThreads(threads) { try grads.totalNorm(normType: p) }.bitPattern == reference.bitPattern)
            }
        }
        // Against a plain sum in double: agree to float32 rounding.
        var sum = 0.0, maximum = 0.0
        for (pointer, count) in gradients(buffers, seed: 7) {
            for i in 0 ..< count {
                let x = Double(pointer![i]).magnitude
                sum += p.isInfinite ? 0 : pow(x, p)
                maximum = max(maximum, x)
            }
        }
        let expected = p.isInfinite ? maximum : pow(sum, 1 / p)
        #expect(abs(Double(reference) - expected) <= 1e-6 * expected)
    }

    @Test func nonfiniteGradientsAreFound() throws {
        let buffers = Buffers()
        for bad in [Float.infinity, -.infinity, .nan] {
            let grads = gradients(buffers, seed: 3)
            grads[6].pointer![12_345] = bad
            let all = try GradientBuffers(grads)
            #expect(try all.totalNorm(normType: 2).isFinite == false)
            #expect(try all.totalNorm(normType: .infinity).isNaN == bad.isNaN)
            #expect(throws: DescentError.self) { try all.totalNorm(normType: 2, errorIfNonfinite: true) }
        }
    }

    @Test func clipCoefficientIsTorchs() {
        // torch: clamp(max_norm / (total + 1e-6), max=1) with float32 tensors, i.e.
        // reciprocal(total + 1e-6) * max_norm.
        #expect(clipCoefficient(maxNorm: 1, totalNorm: 0.5) == 1)
        let total: Float = 3.7
        #expect(clipCoefficient(maxNorm: 0.3, totalNorm: total) == (1 / (total + Float(1e-6))) * Float(0.3))
        #expect(clipCoefficient(maxNorm: 1, totalNorm: .nan).isNaN)
        #expect(clipCoefficient(maxNorm: 1, totalNorm: .infinity) == 0)
    }

    @Test func badArgumentsAreRefused() throws {
        let buffers = Buffers()
        let grads = try GradientBuffers(gradients(buffers, seed: 1))
        #expect(throws: DescentError(.invalidArgument, "max_norm must be >= 0, got -1.0")) { try grads.clipNorm(maxNorm: -1) }
        #expect(throws: DescentError(.invalidArgument, "norm_type must be >= 1 or inf, got 0.5")) { try grads.clipNorm(maxNorm: 1, normType: 0.5) }
        #expect(throws: DescentError(.invalidArgument, "norm_type must be >= 1 or inf, got nan")) { try grads.totalNorm(normType: .nan) }
        #expect(throws: DescentError(.invalidArgument, "clip_value must be >= 0, got nan")) { try grads.clipValue(.nan) }
        let g = buffers.make([1, 2, 3, 4])
        #expect(throws: DescentError(.overlap, "grads[0] and grads[1] overlap")) { try GradientBuffers([(g, 3), (g + 2, 2)]) }
        var options = StepOptions()
        for scale in [0.0, -1, .nan, .infinity, 1e300] {
            options.gradScale = scale
            #expect(throws: DescentError.self) { try options.validate() }
        }
    }

    func adam(_ buffers: Buffers, values: [Float]) throws -> (Optimizer, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let opt = try Optimizer(algorithm: .adam)
        try opt.addGroup()
        let p = buffers.make(values), g = buffers.make(values.map { $0 * 0.5 })
        try opt.addParameter(group: 0, param: p, grad: g, count: values.count)
        return (opt, p, g)
    }

    @Test func skippedStepTouchesNothingButZeroesWhenAsked() throws {
        let buffers = Buffers()
        let (opt, p, g) = try adam(buffers, values: [1, 2, 3])
        g[1] = .nan
        var options = StepOptions()
        options.nonfinite = .skip
        let report = try opt.step(options: options)
        #expect(report.skip == .nonfinite && report.foundNonfinite && report.elementsUpdated == 0)
        #expect(try opt.stepCount(ofParameter: 0) == 0)
        #expect([p[0], p[1], p[2]] == [1, 2, 3])
        #expect(g[0] == 0.5)
        options.zeroGradients = true
        _ = try opt.step(options: options)
        #expect([g[0], g[1], g[2]] == [0, 0, 0] && p[0] == 1)

        options = StepOptions()
        options.foundInf = true
        g[0] = 1
        #expect(try opt.step(options: options).skip == .foundInf)
        #expect(try opt.stepCount(ofParameter: 0) == 0 && g[0] == 1)
    }

    @Test func aPhaseThatWritesGradientsRefusesSharedOnes() throws {
        let buffers = Buffers()
        let (opt, _, g) = try adam(buffers, values: [1, 2, 3])
        try opt.addParameter(group: 0, param: buffers.make([4, 5, 6]), grad: g, count: 3)
        try opt.step()  // reading a shared gradient twice is fine
        var options = StepOptions()
        options.zeroGradients = true
        #expect(throws: DescentError(.overlap, "grads[0] and grads[1] overlap")) { try opt.step(options: options) }
        #expect(try opt.stepCount(ofParameter: 0) == 1 && g[0] == 0.5)
    }

    @Test func errorPolicyChangesNothing() throws {
        let buffers = Buffers()
        let (opt, p, g) = try adam(buffers, values: [1, 2])
        g[0] = .infinity
        var options = StepOptions()
        options.nonfinite = .error
        options.zeroGradients = true
        #expect(throws: DescentError(.nonfinite, "a gradient holds inf or NaN (nonfinite policy: error); nothing was changed")) {
            try opt.step(options: options)
        }
        #expect(try opt.state(named: "exp_avg", ofParameter: 0) == nil)
        #expect(p[0] == 1 && g[0] == .infinity && g[1] == 1)
    }

    @Test func phaseEqualsItsPiecesRunOneByOne() throws {
        let buffers = Buffers()
        let values = (0 ..< 1000).map { Float($0 % 37) - 18 }
        let (fused, p1, g1) = try adam(buffers, values: values)
        let (plain, p2, g2) = try adam(buffers, values: values)
        var options = StepOptions()
        options.gradScale = 8
        options.clip = .norm(maxNorm: 1, normType: 2, errorIfNonfinite: false)
        options.zeroGradients = true
        let report = try fused.step(options: options)

        let pieces = try GradientBuffers([(g2, values.count)])
        for i in 0 ..< values.count { g2[i] = g2[i] / 8 }
        let norm = try pieces.clipNorm(maxNorm: 1)
        try plain.step()
        #expect(report.totalNorm == Double(norm) && report.clipCoefficient < 1)
        #expect(report.elementsUpdated == values.count && report.parametersUpdated == 1)
        #expect((0 ..< values.count).allSatisfy { p1[$0] == p2[$0] && g1[$0] == 0 })
    }
}
