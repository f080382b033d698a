/// What the gradient passes share between the engine and the kernels: the norms a
/// reduction pass computes, and the rewrite the update pass applies to a gradient
/// before the step reads it (unscale, clip).

/// The norms the kernels reduce. Other p-norms (any p ≥ 1) run in the engine, in double.
public enum NormKind: Sendable, Equatable {
    /// Σ|u|
    case l1
    /// Σu² (the square root is taken once, over the whole sum)
    case l2
    /// max|u|
    case inf
}

/// One stretch of gradient's share of a norm and of the inf/NaN check. Partials combine
/// in a fixed order (chunk by chunk, span by span, lanes as a fixed tree), so the result
/// is the same bits for any thread count and instruction set.
public struct NormPartial: Sendable {
    /// Σ|u|, Σu², Σ|u|^p or max|u|, in double. For max|u| a NaN is kept (sticky).
    public var value: Double
    /// Whether some element is inf or NaN.
    public var nonfinite: Bool

    public init(value: Double = 0, nonfinite: Bool = false) {
        self.value = value
        self.nonfinite = nonfinite
    }

    /// `self` followed by `next`, for a norm of `kind` (sums add, maxima keep NaN).
    public func combined(with next: NormPartial, sum: Bool) -> NormPartial {
        let value = sum ? self.value + next.value
            : (self.value.isNaN || next.value.isNaN) ? .nan : Swift.max(self.value, next.value)
        return NormPartial(value: value, nonfinite: nonfinite || next.nonfinite)
    }
}

/// The rewrite of each gradient element in the update pass, in torch's order:
/// `u = g / scale` (the fused optimizers' `grad_scale`), `u = u * coefficient`
/// (`clip_grad_norm_`'s `mul_`), `u = clamp(u, -clipValue, clipValue)`
/// (`clip_grad_value_`, NaN stays NaN). Dividing or multiplying by 1 changes no bit, so
/// the unused parts cost time only.
public struct GradientTransform: Sendable {
    public var scale: Float
    public var coefficient: Float
    /// nil: no clamping.
    public var clipValue: Float?

    public init(scale: Float = 1, coefficient: Float = 1, clipValue: Float? = nil) {
        self.scale = scale
        self.coefficient = coefficient
        self.clipValue = clipValue
    }
}
