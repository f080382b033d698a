import KernelInterface
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
    typealias Scalars = AdamScalars

    static let stateNames = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]

    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8 { hp.amsgrad ? 0b111 : 0b011 }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars {
        let decoupled = algorithm == .adamW
        let t = Double(step)
        let biasCorrection1 = 1 - pow(hp.beta1, t)
        let biasCorrection2 = 1 - pow(hp.beta2, t)
        return Scalars(
            weightDecay: decoupled ? 0 : Float(hp.weightDecay),
            decay: decoupled ? Float(1 - hp.lr * hp.weightDecay) : 1,
            oneMinusBeta1: Float(1 - hp.beta1),
            beta2: Float(hp.beta2),
            oneMinusBeta2: Float(1 - hp.beta2),
            negStepSize: Float(-(hp.lr / biasCorrection1)),
            biasCorrection2Sqrt: Float(biasCorrection2.squareRoot()),
            eps: Float(hp.eps),
            amsgrad: hp.amsgrad,
            maximize: hp.maximize)
    }

    static func kernel(in table: KernelTable) -> @Sendable (Scalars, Span) -> Void { table.adam }
}
