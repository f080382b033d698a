#if canImport(Glibc)
import Glibc
#endif
import KernelsPortable

extension AlgorithmDescription {
    static let sparseAdam = AlgorithmDescription(
        algorithm: .sparseAdam, torchName: "SparseAdam",
        hyperparameters: [.init(.lr, 1e-3), .init(.beta1, 0.9), .init(.beta2, 0.999), .init(.eps, 1e-8),
                          .init(.maximize, 0)],
        checks: [.positive(.lr, prefix: "Invalid learning rate"),
                 .positive(.eps, prefix: "Invalid epsilon value"),
                 .beta(.beta1, index: 0), .beta(.beta2, index: 1)],
        state: [StateSlot("exp_avg"), StateSlot("exp_avg_sq", sign: .nonNegative)],
        traits: [.keepsStepCount, .integerStepCount], cycledMomentum: .beta1,
        reference: "torch's sparse_adam, torch/optim/_functional.py",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: SparseAdamRule.self) },
        sparseGradients: .onlyRows(SparseAdamRule.self,
                                   denseRefused: "SparseAdam does not support dense gradients, please consider Adam instead"))
}

/// SparseAdam (lazy Adam: only the rows a gradient has move, their moments included), in
/// the arithmetic of torch's `sparse_adam` (its kernel: Kernels.swift), the step size
/// lr·sqrt(1 − β2^t)/(1 − β1^t) in double from the step count.
enum SparseAdamRule: SparseRowRule {
    typealias Scalars = SparseAdamScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let t = Double(step)
        let stepSize = hp[.lr] * (1 - pow(hp[.beta2], t)).squareRoot() / (1 - pow(hp[.beta1], t))
        return Scalars(oneMinusBeta1: Float(1 - hp[.beta1]), oneMinusBeta2: Float(1 - hp[.beta2]),
                       eps: Float(hp[.eps]), negStepSize: Float(-stepSize), maximize: hp.isSet(.maximize))
    }
}
