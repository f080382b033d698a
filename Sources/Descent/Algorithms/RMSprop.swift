import KernelsPortable

extension AlgorithmDescription {
    static let rmsprop = AlgorithmDescription(
        algorithm: .rmsprop, torchName: "RMSprop",
        hyperparameters: [.init(.lr, 1e-2), .init(.alpha, 0.99), .init(.eps, 1e-8), .init(.weightDecay, 0),
                          .init(.momentum, 0), .init(.centered, 0), .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .nonNegative(.eps, prefix: "Invalid epsilon value"),
                 .nonNegative(.momentum, prefix: "Invalid momentum value"),
                 .nonNegative(.weightDecay, prefix: "Invalid weight_decay value"),
                 .nonNegative(.alpha, prefix: "Invalid alpha value")],
        state: [StateSlot("square_avg", sign: .nonNegative), StateSlot("momentum_buffer", needed: .whenPositive(.momentum)),
                StateSlot("grad_avg", needed: .whenSet(.centered))],
        traits: [.keepsStepCount], cycledMomentum: .momentum,
        reference: "torch's single-tensor path, torch/optim/rmsprop.py (torch has no fused CPU RMSprop)",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: RMSpropRule.self) }).withStateFormats()
}

/// RMSprop with momentum, centering and L2 weight decay, in the arithmetic of its
/// description's `reference`: `addcmul` contracted to one fma, `addcdiv` as a
/// multiplication and a true division.
enum RMSpropRule: UpdateRule {
    typealias Scalars = RMSpropScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        Scalars(negLR: Float(-hp[.lr]), alpha: Float(hp[.alpha]), oneMinusAlpha: Float(1 - hp[.alpha]),
                eps: Float(hp[.eps]), weightDecay: Float(hp[.weightDecay]), momentum: Float(hp[.momentum]),
                hasMomentum: hp[.momentum] > 0, centered: hp.isSet(.centered), maximize: hp.isSet(.maximize))
    }
}
