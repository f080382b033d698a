import KernelsPortable
#if canImport(Glibc)
import Glibc
#endif

extension AlgorithmDescription {
    static let adam = adam(.adam, "Adam", weightDecay: 0, traits: [.keepsStepCount])
    static let adamW = adam(.adamW, "AdamW", weightDecay: 1e-2, traits: [.keepsStepCount, .decoupledWeightDecay])

    /// Adam and AdamW differ in weight_decay's default and in what it decays.
    private static func adam(_ algorithm: Algorithm, _ name: String, weightDecay: Double,
                             traits: AlgorithmTraits) -> AlgorithmDescription {
        AlgorithmDescription(
            algorithm: algorithm, torchName: name,
            hyperparameters: [.init(.lr, 1e-3), .init(.beta1, 0.9), .init(.beta2, 0.999), .init(.eps, 1e-8),
                              .init(.weightDecay, weightDecay), .init(.amsgrad, 0), .init(.maximize, 0)],
            checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                     .nonNegative(.eps, prefix: "Invalid epsilon value"),
                     .beta(.beta1, index: 0), .beta(.beta2, index: 1),
                     .nonNegative(.weightDecay, prefix: "Invalid weight_decay value")],
            state: [StateSlot("exp_avg"), StateSlot("exp_avg_sq", sign: .nonNegative),
                    StateSlot("max_exp_avg_sq", sign: .nonNegative, needed: .whenSet(.amsgrad))],
            traits: traits, cycledMomentum: .beta1,
            reference: "torch's fused CPU kernel, aten/src/ATen/native/cpu/FusedAdamKernel.cpp",
            runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: AdamRule.self) },
            // torch's AdamW is an Adam: its message names Adam.
            sparseGradients: .refused(message: "Adam does not support sparse gradients, please consider SparseAdam instead")).withStateFormats()
    }
}

/// Adam and AdamW (decoupled weight decay), with amsgrad and maximize, in the arithmetic
/// of their descriptions' `reference`: bias corrections in double from the step count,
/// each scalar rounded to float32 once, IEEE square root, a true division by the
/// denominator.
/// In torch's scalar tail the second moment is `fma(v, β2, (1−β2)·g·g)` (see
/// `torchScalarTailStart`).
enum AdamRule: UpdateRule {
    typealias Scalars = AdamScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let decoupled = algorithm.description.traits.contains(.decoupledWeightDecay)
        let t = Double(step)
        let biasCorrection1 = 1 - pow(hp[.beta1], t)
        let biasCorrection2 = 1 - pow(hp[.beta2], t)
        return Scalars(
            weightDecay: decoupled ? 0 : Float(hp[.weightDecay]),
            decay: decoupled ? Float(1 - hp[.lr] * hp[.weightDecay]) : 1,
            oneMinusBeta1: Float(1 - hp[.beta1]),
            beta2: Float(hp[.beta2]),
            oneMinusBeta2: Float(1 - hp[.beta2]),
            negStepSize: Float(-(hp[.lr] / biasCorrection1)),
            biasCorrection2Sqrt: Float(biasCorrection2.squareRoot()),
            eps: Float(hp[.eps]),
            amsgrad: hp.isSet(.amsgrad),
            maximize: hp.isSet(.maximize))
    }
}
