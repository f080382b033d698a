#if canImport(Glibc)
import Glibc
#endif

/// Adam and AdamW (decoupled weight decay), with amsgrad and maximize, as torch's fused
/// CPU kernel computes them (`aten/src/ATen/native/cpu/FusedAdamKernel.cpp`): bias
/// corrections in double from the step count, each scalar rounded to float32 once,
/// IEEE square root, a true division by the denominator.
/// State: `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` when amsgrad is on.
/// In torch's scalar tail the second moment is `fma(v, β2, (1−β2)·g·g)` (see
/// `torchScalarTailStart`).
enum AdamRule: UpdateRule {
    struct Scalars {
        let decoupled: Bool
        let weightDecay: Float      // L2 (Adam): g += wd * p
        let decay: Float            // decoupled (AdamW): p *= 1 - lr * wd
        let oneMinusBeta1: Float
        let beta2: Float
        let oneMinusBeta2: Float
        let negStepSize: Float
        let biasCorrection2Sqrt: Float
        let eps: Float
        let amsgrad: Bool
        let maximize: Bool
    }

    static let stateNames = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]

    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8 { hp.amsgrad ? 0b111 : 0b011 }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars {
        let decoupled = algorithm == .adamW
        let t = Double(step)
        let biasCorrection1 = 1 - pow(hp.beta1, t)
        let biasCorrection2 = 1 - pow(hp.beta2, t)
        return Scalars(
            decoupled: decoupled,
            weightDecay: decoupled ? 0 : Float(hp.weightDecay),
            decay: Float(1 - hp.lr * hp.weightDecay),
            oneMinusBeta1: Float(1 - hp.beta1),
            beta2: Float(hp.beta2),
            oneMinusBeta2: Float(1 - hp.beta2),
            negStepSize: Float(-(hp.lr / biasCorrection1)),
            biasCorrection2Sqrt: Float(biasCorrection2.squareRoot()),
            eps: Float(hp.eps),
            amsgrad: hp.amsgrad,
            maximize: hp.maximize)
    }

    static func kernel(_ s: Scalars, _ b: Buffers, _ range: Range<Int>) {
        let p = b.param, g = b.grad, m = b.slot0!, v = b.slot1!
        let vmax = s.amsgrad ? b.slot2! : nil
        let hasDecay = s.decoupled && s.decay != 1
        let scalarTail = torchScalarTailStart(b.count)
        for i in range {
            var grad = s.maximize ? -g[i] : g[i]
            var param = p[i]
            if hasDecay { param *= s.decay }
            if s.weightDecay != 0 { grad = grad.addingProduct(param, s.weightDecay) }
            let mi = lerp(m[i], grad, s.oneMinusBeta1)
            var vi = i < scalarTail
                ? (v[i] * s.beta2).addingProduct(s.oneMinusBeta2 * grad, grad)
                : ((s.oneMinusBeta2 * grad) * grad).addingProduct(v[i], s.beta2)
            m[i] = mi
            v[i] = vi
            if let vmax {
                vi = nanMaximum(vmax[i], vi)
                vmax[i] = vi
            }
            let denom = vi.squareRoot() / s.biasCorrection2Sqrt + s.eps
            p[i] = param + (s.negStepSize * mi) / denom
        }
    }
}
