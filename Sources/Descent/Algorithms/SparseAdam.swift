#if canImport(Glibc)
import Glibc
#endif
import KernelInterface

extension AlgorithmDescription {
    static let sparseAdam = AlgorithmDescription(
        algorithm: .sparseAdam, torchName: "SparseAdam",
        hyperparameters: [.init(.lr, 1e-3), .init(.beta1, 0.9), .init(.beta2, 0.999), .init(.eps, 1e-8),
                          .init(.maximize, 0)],
        checks: [.positive(.lr, prefix: "Invalid learning rate"),
                 .positive(.eps, prefix: "Invalid epsilon value"),
                 .beta(.beta1, index: 0), .beta(.beta2, index: 1)],
        state: [StateSlot("exp_avg"), StateSlot("exp_avg_sq")],
        traits: [.keepsStepCount, .integerStepCount], cycledMomentum: .beta1,
        reference: "torch's sparse_adam, torch/optim/_functional.py",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: SparseAdamRule.self) },
        sparseGradients: .onlyRows(SparseAdamRule.self,
                                   denseRefused: "SparseAdam does not support dense gradients, please consider Adam instead"))
}

/// SparseAdam's per-step scalars (it has no dense kernel, so they live here).
struct SparseAdamScalars {
    var oneMinusBeta1: Float
    var oneMinusBeta2: Float
    var eps: Float
    /// −lr·sqrt(1 − β2^t)/(1 − β1^t), rounded once.
    var negStepSize: Float
    var maximize: Bool
}

/// SparseAdam (lazy Adam: only the rows a gradient has move, their moments included), in
/// the arithmetic of torch's `sparse_adam`, per element of the rows present:
/// du = (g − m)·(1−β1), m = m + du; dv = (g·g − v)·(1−β2), v = v + dv;
/// p = p + (−step_size)·(m / (sqrt(v) + eps)), step_size = lr·sqrt(bc2)/bc1 in double.
enum SparseAdamRule: SparseRowRule {
    typealias Scalars = SparseAdamScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let t = Double(step)
        let stepSize = hp[.lr] * (1 - pow(hp[.beta2], t)).squareRoot() / (1 - pow(hp[.beta1], t))
        return Scalars(oneMinusBeta1: Float(1 - hp[.beta1]), oneMinusBeta2: Float(1 - hp[.beta2]),
                       eps: Float(hp[.eps]), negStepSize: Float(-stepSize), maximize: hp.isSet(.maximize))
    }

    /// No dense kernel: a dense gradient is refused before any step runs one.
    static func kernel(in table: KernelTable) -> UpdateKernelFunction { { _, _ in } }

    static func updateRows(_ s: Scalars, _ gradient: SparseRows, param: UnsafeMutablePointer<Float>,
                           slots: [UnsafeMutablePointer<Float>?]) {
        let m = slots[0]!, v = slots[1]!, size = gradient.rowSize
        for (i, row) in gradient.rows.enumerated() {
            let g = gradient.values + i * size, offset = row * size
            let p = param + offset, mRow = m + offset, vRow = v + offset
            for k in 0..<size {
                let grad = s.maximize ? -g[k] : g[k]
                let mOld = mRow[k], vOld = vRow[k]
                let du = (grad - mOld) * s.oneMinusBeta1
                let dv = (grad * grad - vOld) * s.oneMinusBeta2
                let mi = mOld + du, vi = vOld + dv
                mRow[k] = mi
                vRow[k] = vi
                p[k] = p[k] + s.negStepSize * (mi / (vi.squareRoot() + s.eps))
            }
        }
    }
}
