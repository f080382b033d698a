import KernelsPortable

extension AlgorithmDescription {
    static let rprop = AlgorithmDescription(
        algorithm: .rprop, torchName: "Rprop",
        hyperparameters: [.init(.lr, 1e-2), .init(.etaMinus, 0.5), .init(.etaPlus, 1.2),
                          .init(.stepSizeMin, 1e-6), .init(.stepSizeMax, 50), .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .etas(.etaMinus, .etaPlus),
                 .notNaN(.stepSizeMin, prefix: "Invalid step_sizes value"),
                 .notNaN(.stepSizeMax, prefix: "Invalid step_sizes value")],
        state: [StateSlot("prev"), StateSlot("step_size", sign: .nonNegative, initialValue: .groupOption(.lr))],
        traits: [.keepsStepCount], cycledMomentum: nil,
        reference: "torch's single-tensor path, torch/optim/rprop.py (torch has no fused CPU Rprop)",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: RpropRule.self) }).withStateFormats()
}

/// Rprop (Riedmiller and Braun 1993: per-element step sizes grown while the gradient
/// keeps its sign and shrunk when it flips, the step taken by the gradient's sign) with
/// maximize, in the arithmetic of its description's `reference`. lr is only the step
/// sizes' starting value (slot 1, made from the group's lr at the first step).
enum RpropRule: UpdateRule {
    typealias Scalars = RpropScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        Scalars(etaMinus: Float(hp[.etaMinus]), etaPlus: Float(hp[.etaPlus]),
                stepSizeMin: Float(hp[.stepSizeMin]), stepSizeMax: Float(hp[.stepSizeMax]),
                maximize: hp.isSet(.maximize))
    }
}
