import KernelsPortable
#if canImport(Glibc)
import Glibc
#endif

extension AlgorithmDescription {
    static let adamax = AlgorithmDescription(
        algorithm: .adamax, torchName: "Adamax",
        hyperparameters: [.init(.lr, 2e-3), .init(.beta1, 0.9), .init(.beta2, 0.999), .init(.eps, 1e-8),
                          .init(.weightDecay, 0), .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .nonNegative(.eps, prefix: "Invalid epsilon value"),
                 .beta(.beta1, index: 0), .beta(.beta2, index: 1),
                 .nonNegative(.weightDecay, prefix: "Invalid weight_decay value")],
        state: [StateSlot("exp_avg"), StateSlot("exp_inf", sign: .nonNegative)],
        traits: [.keepsStepCount], cycledMomentum: .beta1,
        reference: "torch's single-tensor path, torch/optim/adamax.py (torch has no fused CPU Adamax)",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: AdamaxRule.self) }).withStateFormats()
}

/// Adamax (Adam with the infinity norm) with L2 weight decay and maximize, in the
/// arithmetic of its description's `reference`: `lerp` for the first moment, the
/// infinity norm as a NaN-propagating maximum, `addcdiv` as a multiplication and a true
/// division, the bias-corrected step size in double from the step count.
enum AdamaxRule: UpdateRule {
    typealias Scalars = AdamaxScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let clr = hp[.lr] / (1 - pow(hp[.beta1], Double(step)))
        return Scalars(negClr: Float(-clr), oneMinusBeta1: Float(1 - hp[.beta1]), beta2: Float(hp[.beta2]),
                       eps: Float(hp[.eps]), weightDecay: Float(hp[.weightDecay]), maximize: hp.isSet(.maximize))
    }
}
