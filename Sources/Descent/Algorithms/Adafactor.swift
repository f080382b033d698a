#if canImport(Glibc)
import Glibc
#endif

extension AlgorithmDescription {
    static let adafactor = AlgorithmDescription(
        algorithm: .adafactor, torchName: "Adafactor",
        // eps[0] NaN stands for torch's None: the machine epsilon of the parameter's
        // format, as torch resolves it in each step (`AdafactorScalars`).
        hyperparameters: [.init(.lr, 1e-2), .init(.beta2Decay, -0.8), .init(.eps1, .nan), .init(.eps2, 1e-3),
                          .init(.clippingThreshold, 1), .init(.weightDecay, 0), .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Learning rate should be >= 0 but is"),
                 .nonPositive(.beta2Decay, prefix: "beta2_decay should be <= 0 but is"),
                 .nonNegativeOrNone(.eps1, prefix: "epsilon1 should be >= 0 but is"),
                 .nonNegative(.eps2, prefix: "epsilon2 should be >= 0 but is"),
                 .atLeast(.clippingThreshold, 1, prefix: "Clipping threshold d should be >= 1 but is"),
                 .nonNegative(.weightDecay, prefix: "weight_decay should be >= 0 but is")],
        // In `AdafactorSlot`'s order.
        state: [StateSlot("row_var", shape: .rows, sign: .nonNegative, needed: .whenFactored),
                StateSlot("col_var", shape: .columns, sign: .nonNegative, needed: .whenFactored),
                StateSlot("variance", sign: .nonNegative, needed: .whenNotFactored)],
        traits: [.keepsStepCount, .decoupledWeightDecay], cycledMomentum: nil,
        reference: "torch's single-tensor path, torch/optim/_adafactor.py (its default: torch has no fused Adafactor)",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.adafactorPhase(gradients, options) })
}

/// One parameter's per-step scalars, computed in double from its step count as torch's
/// Python code does, each rounded to float32 where torch applies it to a tensor.
struct AdafactorScalars {
    /// 1 − β2ₜ = t^beta2_decay, the weight of the new squares (torch's lerp weight).
    var weight: Float
    /// ρₜ = min(lr, 1/√t).
    var rho: Double
    /// eps[0], torch's None resolved to float32's machine epsilon.
    var eps1: Double
    /// torch's `1 - lr * weight_decay`, 1 without weight decay (a product by 1 is exact).
    var decay: Float

    init(_ hp: Hyperparameters, step: Int64) {
        let t = Double(Float(step))  // torch's float32 step tensor, read with .item()
        weight = Float(pow(t, hp[.beta2Decay]))
        let root = 1 / pow(t, 0.5)
        rho = root < hp[.lr] ? root : hp[.lr]
        eps1 = hp[.eps1].isNaN ? Double(Float.ulpOfOne) : hp[.eps1]
        decay = hp[.weightDecay] != 0 ? Float(1 - hp[.lr] * hp[.weightDecay]) : 1
    }

    /// torch's clamp of the variance before its rsqrt: eps[0]², rounded to float32.
    var floor: Float { Float(eps1 * eps1) }
    /// torch's clamp of the row factors' mean: eps[0] as float32.
    var meanFloor: Float { Float(eps1) }
}

/// Adafactor's state slots by index, as its description lists them.
enum AdafactorSlot {
    static let rows = 0
    static let columns = 1
    static let variance = 2
}
