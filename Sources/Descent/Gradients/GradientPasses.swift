import KernelInterface

// The passes over gradients alone, on the step planner's chunks and threads: a norm
// (with the inf/NaN check), a rewrite (unscale, clip), zeroing.

extension StepPlan {
    /// The norm of the gradients of every span, each element divided by `scale` first.
    /// Each chunk's partial lands in its own slot and the slots are folded in chunk
    /// order: the result does not depend on the thread count.
    func gradientNorm(_ type: NormType, scale: Float, threads: Int) -> (norm: Float, nonfinite: Bool) {
        let partials = UnsafeMutableBufferPointer<NormPartial>.allocate(capacity: max(chunkCount, 1))
        partials.initialize(repeating: NormPartial())
        defer { partials.deallocate() }
        let kernel = Runtime.kernels.norm
        runChunks(threads: threads) { chunk in
            var partial = NormPartial()
            forEachSpan(inChunk: chunk) { _, span in
                span.forEachFloat32Gradient { g, count in
                    let next = type.kernelKind.map { kernel(g, count, scale, $0) }
                        ?? type.powerPartial(g, count, scale: scale)
                    partial = partial.combined(with: next, sum: type.sums)
                }
            }
            partials[chunk] = partial
        }
        let whole = partials.reduce(NormPartial()) { $0.combined(with: $1, sum: type.sums) }
        return (type.total(whole), whole.nonfinite)
    }

    /// Rewrites (`transform`) and/or zeroes the gradient of every span.
    func rewriteGradients(_ transform: GradientTransform?, zero: Bool, threads: Int) {
        let table = Runtime.kernels
        run({ _, span in
            if let transform { span.transformGradient(transform, table) }
            if zero { span.zeroGradient() }
        }, threads: threads)
    }
}

extension Span {
    /// A span for the passes that touch only a gradient of `count` elements in `format`:
    /// it has no state, and its parameter pointer is the gradient's own (never read).
    init(gradient: UnsafeMutablePointer<Float>, count: Int, format: ElementFormat = .float32) {
        self.init(param: gradient, grad: gradient, slots: (nil, nil, nil, nil),
                  start: 0, end: count, count: count, freshSlots: 0)
        parameterFormat = format
    }

    /// Calls `body` with the span's gradient elements as float32: the elements
    /// themselves, or a low-precision gradient widened a piece at a time.
    func forEachFloat32Gradient(_ body: (UnsafeMutablePointer<Float>, Int) -> Void) {
        guard parameterFormat != .float32 else {
            return body(UnsafeMutablePointer(mutating: grad) + start, end - start)
        }
        forEachGradientPiece { values, elements in body(values, elements.count) }
    }

    /// Rewrites the span's gradient elements: a low-precision gradient in float32, then
    /// rounded back to its format (as torch's in-place unscale and clip round it), so
    /// that the step reads what the caller will find.
    func transformGradient(_ transform: GradientTransform, _ table: KernelTable) {
        let g = UnsafeMutablePointer(mutating: grad)
        guard parameterFormat != .float32 else { return table.transform(g + start, end - start, transform) }
        forEachGradientPiece { values, elements in
            table.transform(values, elements.count, transform)
            encodeState(values, parameterFormat, count: count, signed: true, elements: elements, into: g, .portable)
        }
    }

    /// Fills the span's gradient elements with zeros.
    func zeroGradient() {
        (UnsafeMutableRawPointer(mutating: grad) + parameterFormat.byteCount(start))
            .initializeMemory(as: UInt8.self, repeating: 0, count: parameterFormat.byteCount(end - start))
    }

    /// Calls `body` with each piece of the span's low-precision gradient, widened to
    /// float32, and its element range.
    private func forEachGradientPiece(_ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) {
        let piece = 1024
        let values = UnsafeMutablePointer<Float>.allocate(capacity: piece)  // see `withFloat32State`
        defer { values.deallocate() }
        forEachPiece(piece) { _, elements in
            decodeState(grad, parameterFormat, count: count, signed: true, elements: elements, into: values, .portable)
            body(values, elements)
        }
    }
}

/// Caller-owned gradient buffers, laid out for the gradient passes: the engine side of
/// `clip_grad_norm_`, `clip_grad_value_` and of zeroing, on any buffers (an optimizer's
/// or not).
public struct GradientBuffers {
    var plan = StepPlan<Void>()

    /// `buffers`: a pointer and an element count each (0 allowed: an empty tensor).
    /// Buffers must be 4-byte aligned and must not overlap: a shared element would be
    /// counted and clipped twice.
    public init(_ buffers: [(pointer: UnsafeMutablePointer<Float>?, count: Int)]) throws(DescentError) {
        try self.init(checking: buffers.map { ($0.pointer, $0.count, .float32) })
    }

    /// Like `init(_:)`, with each buffer's elements in a format of its own.
    init(checking buffers: [(pointer: UnsafeMutablePointer<Float>?, count: Int, format: ElementFormat)]) throws(DescentError) {
        var ranges: [(range: Range<UInt>, index: Int)] = []
        for (i, (pointer, count, format)) in buffers.enumerated() {
            guard count >= 0, count <= Optimizer.maxCount else {
                throw DescentError(.invalidArgument, "grads[\(i)]: numel \(count) is out of range")
            }
            guard count > 0 else { continue }
            guard let pointer else { throw DescentError(.invalidArgument, "grads[\(i)] is NULL") }
            try checkBuffer(pointer, count, format, name: "grads[\(i)]")
            ranges.append((Parameter.byteRange(pointer, count, format), i))
        }
        ranges.sort { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(ranges, ranges.dropFirst()) where a.range.overlaps(b.range) {
            throw DescentError(.overlap, "grads[\(min(a.index, b.index))] and grads[\(max(a.index, b.index))] overlap")
        }
        self.init(validated: buffers.compactMap { pointer, count, format in
            count > 0 ? pointer.map { ($0, count, format) } : nil
        })
    }

    /// Buffers already checked (an optimizer's registered or passed gradients), each in
    /// its parameter's format.
    init(validated buffers: [(UnsafeMutablePointer<Float>, Int, ElementFormat)]) {
        plan.addScalars(())
        for (pointer, count, format) in buffers { plan.add(Span(gradient: pointer, count: count, format: format)) }
    }

    /// torch's `get_total_norm`: the norm of all gradients as one vector (float32).
    /// With `errorIfNonfinite`, an inf or NaN norm fails with torch's message.
    public func totalNorm(normType: Double, errorIfNonfinite: Bool = false) throws(DescentError) -> Float {
        let type = try NormType(normType)
        let norm = plan.gradientNorm(type, scale: 1, threads: Runtime.threadCount).norm
        if errorIfNonfinite, !norm.isFinite { throw nonfiniteNorm(normType) }
        return norm
    }

    /// torch's `clip_grad_norm_`: scales every gradient by the clamped clip coefficient
    /// (also when it is 1, as torch does) and returns the total norm before clipping.
    public func clipNorm(maxNorm: Double, normType: Double = 2,
                         errorIfNonfinite: Bool = false) throws(DescentError) -> Float {
        try StepOptions.validate(clip: .norm(maxNorm: maxNorm, normType: normType, errorIfNonfinite: errorIfNonfinite))
        let norm = try totalNorm(normType: normType, errorIfNonfinite: errorIfNonfinite)
        let coefficient = clipCoefficient(maxNorm: maxNorm, totalNorm: norm)
        plan.rewriteGradients(GradientTransform(coefficient: coefficient), zero: false, threads: Runtime.threadCount)
        return norm
    }

    /// torch's `clip_grad_value_`: clamps every element to [-clipValue, clipValue].
    public func clipValue(_ clipValue: Double) throws(DescentError) {
        try StepOptions.validate(clip: .value(clipValue))
        plan.rewriteGradients(GradientTransform(clipValue: Float(clipValue)), zero: false, threads: Runtime.threadCount)
    }

    /// Fills every gradient with zeros.
    public func zero() {
        plan.rewriteGradients(nil, zero: true, threads: Runtime.threadCount)
    }
}

/// torch's error for a non-finite norm under `error_if_nonfinite=True`.
func nonfiniteNorm(_ normType: Double) -> DescentError {
    DescentError(.nonfinite, "The total norm of order \(pythonRepr(normType)) for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
}
