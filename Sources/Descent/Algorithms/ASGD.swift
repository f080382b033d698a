import KernelsPortable
#if canImport(Glibc)
import Glibc
#endif

extension AlgorithmDescription {
    static let asgd = AlgorithmDescription(
        algorithm: .asgd, torchName: "ASGD",
        hyperparameters: [.init(.lr, 1e-2), .init(.lambd, 1e-4), .init(.alpha, 0.75), .init(.t0, 1e6),
                          .init(.weightDecay, 0), .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .nonNegative(.lambd, prefix: "Invalid lambd value"),
                 .nonNegative(.alpha, prefix: "Invalid alpha value"),
                 .nonNegative(.weightDecay, prefix: "Invalid weight_decay value"),
                 .notNaN(.t0, prefix: "Invalid t0 value")],
        state: [StateSlot("eta", shape: .scalar, initialValue: .groupOption(.lr)),
                StateSlot("mu", shape: .scalar, initialValue: .constant(1)),
                StateSlot("ax")],
        traits: [.keepsStepCount], cycledMomentum: nil,
        reference: "torch's single-tensor path, torch/optim/asgd.py (torch has no fused CPU ASGD)",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: ASGDRule.self) }).withStateFormats()
}

/// Averaged SGD (Polyak and Juditsky 1992) with L2 weight decay and maximize, in the
/// arithmetic of its description's `reference`. Its scalar state is per parameter, as
/// torch keeps it in float32: `eta` (slot 0, starting at the group's lr) is this step's
/// step size and `mu` (slot 1, starting at 1) its averaging weight; the step uses them,
/// then replaces them with lr / (1 + λ·lr·t)^α and 1 / max(1, t − t0), computed in double.
enum ASGDRule: UpdateRule {
    typealias Scalars = ASGDScalars

    static var readsScalarState: Bool { true }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let eta = state[0]!, mu = state[1]!
        let t = Double(step), lr = hp[.lr], lambd = hp[.lambd]
        let scalars = Scalars(decay: Float(1 - lambd * Double(eta.pointee)), negEta: -eta.pointee,
                              weightDecay: Float(hp[.weightDecay]), mu: mu.pointee, averages: mu.pointee != 1,
                              maximize: hp.isSet(.maximize))
        eta.pointee = Float(lr / pow(1 + lambd * lr * t, hp[.alpha]))
        // Python's max(1, t − t0): 1 unless the difference is larger (a NaN is not).
        let sinceT0 = t - hp[.t0]
        mu.pointee = Float(1 / (sinceT0 > 1 ? sinceT0 : 1))
        return scalars
    }
}
