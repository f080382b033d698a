#if canImport(Glibc)
import Glibc
#endif
import KernelInterface

/// The order p of a gradient norm: any p ≥ 1, or inf (torch's `norm_type`).
struct NormType: Equatable {
    let p: Double

    init(_ p: Double) throws(DescentError) {
        guard p >= 1 else {
            throw DescentError(.invalidArgument, "norm_type must be >= 1 or inf, got \(pythonRepr(p))")
        }
        self.p = p
    }

    /// The kernel that reduces this norm, nil for other p (reduced here, in double).
    var kernelKind: NormKind? {
        switch p {
        case 1: .l1
        case 2: .l2
        case .infinity: .inf
        default: nil
        }
    }

    /// Partials add (all but the inf norm, whose partials are maxima).
    var sums: Bool { p != .infinity }

    /// Σ|u|^p of `count` elements, each divided by `scale` first, and the inf/NaN check.
    func powerPartial(_ g: UnsafePointer<Float>, _ count: Int, scale: Float) -> NormPartial {
        var sum = 0.0
        var nonfinite = false
        for i in 0 ..< count {
            let u = g[i] / scale
            nonfinite = nonfinite || !u.isFinite
            sum += pow(Double(u.magnitude), p)
        }
        return NormPartial(value: sum, nonfinite: nonfinite)
    }

    /// The norm from the combined partials, rounded to float32 as torch's is.
    func total(_ partial: NormPartial) -> Float {
        switch p {
        case 1, .infinity: Float(partial.value)
        case 2: Float(partial.value.squareRoot())
        default: Float(pow(partial.value, 1 / p))
        }
    }
}

/// torch's clamped clip coefficient: `max_norm / (total_norm + 1e-6)` on float32
/// tensors, which torch evaluates as `reciprocal(total_norm + 1e-6) * max_norm`, then
/// clamped to at most 1 (NaN stays NaN).
func clipCoefficient(maxNorm: Double, totalNorm: Float) -> Float {
    let coefficient = (1 / (totalNorm + Float(1e-6))) * Float(maxNorm)
    return coefficient > 1 ? 1 : coefficient
}
