import KernelsPortable
#if canImport(Glibc)
import Glibc
#endif

extension AlgorithmDescription {
    static let radam = AlgorithmDescription(
        algorithm: .radam, torchName: "RAdam",
        hyperparameters: [.init(.lr, 1e-3), .init(.beta1, 0.9), .init(.beta2, 0.999), .init(.eps, 1e-8),
                          .init(.weightDecay, 0), .init(.decoupledWeightDecay, 0), .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .nonNegative(.eps, prefix: "Invalid epsilon value"),
                 .beta(.beta1, index: 0), .beta(.beta2, index: 1),
                 .nonNegative(.weightDecay, prefix: "Invalid weight_decay value")],
        state: [StateSlot("exp_avg"), StateSlot("exp_avg_sq", sign: .nonNegative)],
        traits: [.keepsStepCount], cycledMomentum: .beta1,
        reference: "torch's single-tensor path, torch/optim/radam.py (torch has no fused CPU RAdam)",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: RAdamRule.self) }).withStateFormats()
}

/// RAdam (Liu et al. 2020: Adam whose adaptive step is rectified once the variance of
/// its estimate is tractable) with L2 or decoupled weight decay and maximize, in the
/// arithmetic of its description's `reference`: ρt and the rectification term in double
/// from the step count, `x ** 0.5` as `pow`, the adaptive term as torch's `scalar /
/// tensor` (a reciprocal times the scalar), the step's products left to right.
enum RAdamRule: UpdateRule {
    typealias Scalars = RAdamScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let t = Double(step), beta1 = hp[.beta1], beta2 = hp[.beta2]
        let biasCorrection1 = 1 - pow(beta1, t)
        let biasCorrection2 = 1 - pow(beta2, t)
        let rhoInf = 2 / (1 - beta2) - 1
        let rhoT = rhoInf - 2 * t * pow(beta2, t) / biasCorrection2
        let rect = pow((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT), 0.5)
        let decoupled = hp.isSet(.decoupledWeightDecay) && hp[.weightDecay] != 0
        return Scalars(
            decay: decoupled ? Float(1 - hp[.lr] * hp[.weightDecay]) : 1,
            weightDecay: hp.isSet(.decoupledWeightDecay) ? 0 : Float(hp[.weightDecay]),
            oneMinusBeta1: Float(1 - beta1), beta2: Float(beta2), oneMinusBeta2: Float(1 - beta2),
            biasCorrection1: Float(biasCorrection1), lr: Float(hp[.lr]),
            rectified: rhoT > 5, biasCorrection2Sqrt: Float(pow(biasCorrection2, 0.5)), eps: Float(hp[.eps]),
            rect: Float(rect), maximize: hp.isSet(.maximize))
    }
}
