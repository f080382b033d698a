import KernelsPortable

extension AlgorithmDescription {
    static let adadelta = AlgorithmDescription(
        algorithm: .adadelta, torchName: "Adadelta",
        hyperparameters: [.init(.lr, 1), .init(.rho, 0.9), .init(.eps, 1e-6), .init(.weightDecay, 0),
                          .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .unitInterval(.rho, prefix: "Invalid rho value"),
                 .nonNegative(.eps, prefix: "Invalid epsilon value"),
                 .nonNegative(.weightDecay, prefix: "Invalid weight_decay value")],
        state: [StateSlot("square_avg", sign: .nonNegative), StateSlot("acc_delta", sign: .nonNegative)],
        traits: [.keepsStepCount], cycledMomentum: nil,
        reference: "torch's single-tensor path, torch/optim/adadelta.py (torch has no fused CPU Adadelta)",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: AdadeltaRule.self) }).withStateFormats()
}

/// Adadelta (Zeiler 2012: steps scaled by the ratio of the running RMS of past updates
/// to that of the gradients) with L2 weight decay and maximize, in the arithmetic of its
/// description's `reference`.
enum AdadeltaRule: UpdateRule {
    typealias Scalars = AdadeltaScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        Scalars(rho: Float(hp[.rho]), oneMinusRho: Float(1 - hp[.rho]), eps: Float(hp[.eps]),
                negLR: Float(-hp[.lr]), weightDecay: Float(hp[.weightDecay]), maximize: hp.isSet(.maximize))
    }
}
