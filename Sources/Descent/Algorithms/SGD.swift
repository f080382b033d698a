import KernelsPortable

extension AlgorithmDescription {
    static let sgd = AlgorithmDescription(
        algorithm: .sgd, torchName: "SGD",
        hyperparameters: [.init(.lr, 1e-3), .init(.momentum, 0), .init(.dampening, 0), .init(.weightDecay, 0),
                          .init(.nesterov, 0), .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .nonNegative(.momentum, prefix: "Invalid momentum value"),
                 .nonNegative(.weightDecay, prefix: "Invalid weight_decay value"),
                 .notNaN(.dampening, prefix: "Invalid dampening value"),
                 .nesterovNeedsMomentumWithoutDampening],
        state: [StateSlot("momentum_buffer", needed: .whenNonZero(.momentum))],
        traits: [], cycledMomentum: .momentum,
        reference: "torch's fused CPU kernel, aten/src/ATen/native/cpu/FusedSGDKernel.cpp",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: SGDRule.self) },
        sparseGradients: .asDense(refusing: .weightDecay)).withStateFormats()
}

/// SGD with momentum, dampening, Nesterov and L2 weight decay, in the arithmetic of its
/// description's `reference`. A new momentum_buffer starts as a copy of the (decayed)
/// gradient, as torch's does.
/// In torch's scalar tail the momentum update is `fma(b, μ, g·(1−τ))` (see
/// `torchScalarTailStart`).
enum SGDRule: UpdateRule {
    typealias Scalars = SGDScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        Scalars(negLR: Float(-hp[.lr]), weightDecay: Float(hp[.weightDecay]),
                momentum: Float(hp[.momentum]), oneMinusDampening: Float(1 - hp[.dampening]),
                hasMomentum: hp[.momentum] != 0, nesterov: hp.isSet(.nesterov), maximize: hp.isSet(.maximize))
    }
}
