/// What to do when a gradient holds inf or NaN and the caller gave no verdict of its own
/// (`StepOptions.foundInf`).
public enum NonfinitePolicy: Int32, Sendable {
    /// Step anyway (torch's behaviour without a GradScaler): the inf/NaN reaches the
    /// parameters. No check is made, so it costs nothing.
    case propagate = 0
    /// Skip the step, as GradScaler does: parameters, state and step counts untouched.
    case skip = 1
    /// Fail with `.nonfinite`, changing nothing.
    case error = 2
}

/// How gradients are clipped before the update.
public enum GradientClip: Equatable, Sendable {
    case none
    /// `torch.nn.utils.clip_grad_norm_` over every gradient the step uses.
    case norm(maxNorm: Double, normType: Double, errorIfNonfinite: Bool)
    /// `torch.nn.utils.clip_grad_value_`.
    case value(Double)
}

/// The optional parts of a step's phase, each off by default: with the defaults a step
/// is a plain `step()`. The gradient is unscaled, checked and clipped in torch's order
/// (GradScaler's unscale, its inf check, clip_grad_norm_), in at most two passes over
/// it: a reduction pass when a norm or a check is needed, and the update pass, which
/// rewrites each gradient element just before the step reads it.
public struct StepOptions: Sendable {
    /// Gradients are divided by this (torch's fused `grad_scale`; 1: no unscaling).
    public var gradScale: Double = 1
    /// The caller's inf verdict (GradScaler's `found_inf`): true skips the step.
    public var foundInf = false
    public var clip = GradientClip.none
    public var nonfinite = NonfinitePolicy.propagate
    /// Fill the gradients with zeros after the step (also when it is skipped), in the
    /// update pass while they are in cache.
    public var zeroGradients = false

    public init() {}

    func validate() throws(DescentError) {
        guard gradScale.isFinite, gradScale > 0, Float(gradScale).isFinite, Float(gradScale) > 0 else {
            throw DescentError(.invalidArgument, "grad_scale must be a finite number > 0 (as a float32), got \(pythonRepr(gradScale))")
        }
        try Self.validate(clip: clip)
    }

    static func validate(clip: GradientClip) throws(DescentError) {
        switch clip {
        case .none: break
        case let .norm(maxNorm, normType, _):
            guard maxNorm >= 0 else {
                throw DescentError(.invalidArgument, "max_norm must be >= 0, got \(pythonRepr(maxNorm))")
            }
            _ = try NormType(normType)
        case let .value(limit):
            guard limit >= 0 else {
                throw DescentError(.invalidArgument, "clip_value must be >= 0, got \(pythonRepr(limit))")
            }
        }
    }

    /// Whether the phase writes to the gradients.
    var rewritesGradients: Bool { gradScale != 1 || clip != .none || zeroGradients }

    /// Whether the reduction pass must run before the update.
    var needsReduction: Bool {
        if case .norm = clip { return true }
        return nonfinite != .propagate
    }
}

/// What a step's phase did.
public struct StepReport: Equatable, Sendable {
    public enum Skip: Int32, Sendable {
        case none = 0
        /// The caller's `foundInf` said so.
        case foundInf = 1
        /// A gradient held inf or NaN and the policy is `.skip`.
        case nonfinite = 2
    }

    /// The total norm of the (unscaled) gradients before clipping, as the float32 torch
    /// returns; NaN when no norm was computed (no clip by norm).
    public var totalNorm = Double.nan
    /// The factor applied by clip by norm (torch's clamped `clip_coef`); 1 without.
    public var clipCoefficient = 1.0
    /// Whether a gradient held inf or NaN: the caller's verdict, or the check's.
    public var foundNonfinite = false
    public var skip = Skip.none
    /// Parameters and elements the update changed (0 when skipped).
    public var parametersUpdated = 0
    public var elementsUpdated = 0

    public init() {}
}
