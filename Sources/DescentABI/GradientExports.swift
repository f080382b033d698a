import CDescent
import Descent

// The gradient utilities and the fused optimizer phase of include/descent.h.

@_cdecl("descent_step_options_default")
public func exportStepOptionsDefault(_ out: UnsafeMutablePointer<descent_step_options>?) -> descent_status {
    callWithoutHandle { try required(out, "out").pointee = defaultStepOptions }
}

@_cdecl("descent_step_phase")
public func exportStepPhase(_ opt: OpaquePointer?, _ options: UnsafePointer<descent_step_options>?,
                            _ grads: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ count: Int,
                            _ report: UnsafeMutablePointer<descent_step_report>?) -> descent_status {
    call(opt) { optimizer in
        let options = try StepOptions(options.map {
            try load($0, "descent_step_options", flags: [
                (\.found_inf, "found_inf"), (\.error_if_nonfinite, "error_if_nonfinite"), (\.zero_grad, "zero_grad"),
            ])
        } ?? defaultStepOptions)
        let result: StepReport
        if let grads {
            // Check the count before reading `count` pointers from the caller's array.
            guard count == optimizer.parameterCount else {
                throw DescentError(.invalidArgument, "expected \(optimizer.parameterCount) gradients (one per parameter), got \(count)")
            }
            result = try optimizer.step(gradients: Array(UnsafeBufferPointer(start: grads, count: count)), options: options)
        } else {
            guard count == 0 else {
                throw DescentError(.invalidArgument, "grads is NULL (the registered gradients) but count is \(count), not 0")
            }
            result = try optimizer.step(options: options)
        }
        report?.pointee = descent_step_report(result)
    }
}

@_cdecl("descent_grad_norm")
public func exportGradNorm(_ grads: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ numels: UnsafePointer<Int>?,
                           _ count: Int, _ normType: Double, _ errorIfNonfinite: Bool,
                           _ totalNorm: UnsafeMutablePointer<Float>?) -> descent_status {
    callWithoutHandle {
        let out = try required(totalNorm, "total_norm")
        out.pointee = try gradientBuffers(grads, numels, count).totalNorm(normType: normType, errorIfNonfinite: errorIfNonfinite)
    }
}

@_cdecl("descent_clip_grad_norm")
public func exportClipGradNorm(_ grads: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ numels: UnsafePointer<Int>?,
                               _ count: Int, _ maxNorm: Double, _ normType: Double, _ errorIfNonfinite: Bool,
                               _ totalNorm: UnsafeMutablePointer<Float>?) -> descent_status {
    callWithoutHandle {
        let norm = try gradientBuffers(grads, numels, count).clipNorm(
            maxNorm: maxNorm, normType: normType, errorIfNonfinite: errorIfNonfinite)
        totalNorm?.pointee = norm
    }
}

@_cdecl("descent_clip_grad_value")
public func exportClipGradValue(_ grads: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ numels: UnsafePointer<Int>?,
                                _ count: Int, _ clipValue: Double) -> descent_status {
    callWithoutHandle { try gradientBuffers(grads, numels, count).clipValue(clipValue) }
}

/// The caller's (grads, numels, count) triple as engine buffers.
private func gradientBuffers(_ grads: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ numels: UnsafePointer<Int>?,
                             _ count: Int) throws -> GradientBuffers {
    guard count >= 0, count <= Int.max / 64 else {
        throw DescentError(.invalidArgument, "count \(count) is out of range (a negative count passed as size_t?)")
    }
    guard count > 0 else { return try GradientBuffers([]) }
    let pointers = UnsafeBufferPointer(start: try required(grads, "grads"), count: count)
    let sizes = UnsafeBufferPointer(start: try required(numels, "numels"), count: count)
    return try GradientBuffers(Array(zip(pointers, sizes)))
}

private let defaultStepOptions = descent_step_options(
    grad_scale: 1, found_inf: false, nonfinite: DESCENT_NONFINITE_PROPAGATE, clip: DESCENT_CLIP_NONE,
    max_norm: .infinity, norm_type: 2, error_if_nonfinite: false, clip_value: .infinity, zero_grad: false)

extension StepOptions {
    init(_ o: descent_step_options) throws {
        self.init()
        gradScale = o.grad_scale
        foundInf = o.found_inf
        guard let policy = NonfinitePolicy(rawValue: Int32(bitPattern: o.nonfinite.rawValue)) else {
            throw DescentError(.invalidArgument, "nonfinite \(o.nonfinite.rawValue) is not a descent_nonfinite_policy")
        }
        nonfinite = policy
        switch o.clip {
        case DESCENT_CLIP_NONE: clip = .none
        case DESCENT_CLIP_NORM: clip = .norm(maxNorm: o.max_norm, normType: o.norm_type, errorIfNonfinite: o.error_if_nonfinite)
        case DESCENT_CLIP_VALUE: clip = .value(o.clip_value)
        default: throw DescentError(.invalidArgument, "clip \(o.clip.rawValue) is not a descent_clip_mode")
        }
        zeroGradients = o.zero_grad
    }
}

extension descent_step_report {
    init(_ r: StepReport) {
        let skipped = switch r.skip {
        case .none: DESCENT_SKIP_NONE
        case .foundInf: DESCENT_SKIP_FOUND_INF
        case .nonfinite: DESCENT_SKIP_NONFINITE
        }
        self.init(total_norm: r.totalNorm, clip_coef: r.clipCoefficient, found_inf: r.foundNonfinite,
                  skipped: skipped, params_updated: r.parametersUpdated, elements_updated: r.elementsUpdated)
    }
}
