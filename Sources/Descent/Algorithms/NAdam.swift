import KernelsPortable
#if canImport(Glibc)
import Glibc
#endif

extension AlgorithmDescription {
    static let nadam = AlgorithmDescription(
        algorithm: .nadam, torchName: "NAdam",
        hyperparameters: [.init(.lr, 2e-3), .init(.beta1, 0.9), .init(.beta2, 0.999), .init(.eps, 1e-8),
                          .init(.weightDecay, 0), .init(.momentumDecay, 4e-3), .init(.decoupledWeightDecay, 0),
                          .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .nonNegative(.eps, prefix: "Invalid epsilon value"),
                 .beta(.beta1, index: 0), .beta(.beta2, index: 1),
                 .nonNegative(.weightDecay, prefix: "Invalid weight_decay value"),
                 .nonNegative(.momentumDecay, prefix: "Invalid momentum_decay value")],
        state: [StateSlot("mu_product", shape: .scalar, initialValue: .constant(1)),
                StateSlot("exp_avg"), StateSlot("exp_avg_sq", sign: .nonNegative)],
        traits: [.keepsStepCount], cycledMomentum: .beta1,
        reference: "torch's single-tensor path, torch/optim/nadam.py (torch has no fused CPU NAdam)",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: NAdamRule.self) }).withStateFormats()
}

/// NAdam (Adam with Nesterov momentum, Dozat 2016) with L2 or decoupled weight decay and
/// maximize, in the arithmetic of its description's `reference`. Its scalar state
/// `mu_product` (slot 0) is the product of the momentum schedule μ1…μt, kept in float32
/// as torch keeps it (Π = Π·μt rounded to float32, μt rounded first); each parameter's
/// step sizes are computed from it in double.
enum NAdamRule: UpdateRule {
    typealias Scalars = NAdamScalars

    static var readsScalarState: Bool { true }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let t = Double(step)
        let biasCorrection2 = 1 - pow(hp[.beta2], t)
        let mu = hp[.beta1] * (1 - 0.5 * pow(0.96, t * hp[.momentumDecay]))
        let muNext = hp[.beta1] * (1 - 0.5 * pow(0.96, (t + 1) * hp[.momentumDecay]))
        let product = state[0]!
        product.pointee = product.pointee * Float(mu)
        let productNext = Double(product.pointee) * muNext
        let decoupled = hp.isSet(.decoupledWeightDecay) && hp[.weightDecay] != 0
        return Scalars(
            decay: decoupled ? Float(1 - hp[.lr] * hp[.weightDecay]) : 1,
            weightDecay: hp.isSet(.decoupledWeightDecay) ? 0 : Float(hp[.weightDecay]),
            oneMinusBeta1: Float(1 - hp[.beta1]), beta2: Float(hp[.beta2]), oneMinusBeta2: Float(1 - hp[.beta2]),
            biasCorrection2: Float(biasCorrection2), eps: Float(hp[.eps]),
            gradientStep: Float(-hp[.lr] * (1 - mu) / (1 - Double(product.pointee))),
            momentumStep: Float((-hp[.lr] * muNext) / (1 - productNext)),
            maximize: hp.isSet(.maximize))
    }
}
