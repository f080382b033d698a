import KernelInterface

// Linked into KernelsAVX2 and KernelsAVX512, like Kernels.swift: each build vectorizes
// the conversions for its instruction set, with the same IEEE operations, so every build
// gives the same bits.

/// This module's build of the 8-bit loops.
let blockCoding = BlockCoding.built(for: instructionSet)

/// A rule's kernel for every state format and parameter format. By state format: its
/// float32 and bfloat16 builds (the same generic kernel over `Float32Elements` and
/// `BFloat16Elements`: one pass), and for 8-bit state, and bfloat16 state rounded
/// stochastically, the float32 build over decoded pieces. Each of those on float32
/// parameters, and on bfloat16 and float16 parameters through float32 pieces
/// (`withFloat32Parameter`).
func everyFormat<Scalars>(_ float32: @escaping @Sendable (Scalars, Span) -> Void,
                          _ bfloat16: @escaping @Sendable (Scalars, Span) -> Void) -> [UpdateKernel] {
    let byState: [(ElementFormat, @Sendable (Scalars, Span) -> Void)] = [
        (.float32, float32),
        (.bfloat16, { s, span in
            span.roundingSeed == nil ? bfloat16(s, span) : withFloat32State(s, span, .bfloat16, float32)
        }),
        (.int8Blockwise, { s, span in withFloat32State(s, span, .int8Blockwise, float32) }),
    ]
    return byState.flatMap { state, kernel in
        [UpdateKernel(state: state, kernel),
         UpdateKernel(parameter: .bfloat16, state: state) { s, span in withFloat32Parameter(s, span, .bfloat16, kernel) },
         UpdateKernel(parameter: .float16, state: state) { s, span in withFloat32Parameter(s, span, .float16, kernel) }]
    }
}

/// Runs `kernel`, a kernel of float32 parameters, over a span whose parameter and
/// gradient are in `format` (bfloat16 or float16), `piece` elements at a time: the
/// gradient is widened into float32 scratch, and so is the parameter unless the span has
/// a master copy (then the kernel updates the copy); after the kernel, the parameter is
/// rewritten from the updated float32 values, rounded to nearest even (or stochastically:
/// `Span.roundingSeed`). The arithmetic is
/// the float32 kernel's: a master copy steps exactly as a float32 parameter would. The
/// piece stays in L1, and keeps the parameter's element indices (the state's blocks are
/// addressed by them).
@inline(__always)
func withFloat32Parameter<Scalars>(_ s: Scalars, _ span: Span, _ format: ElementFormat,
                                   _ kernel: (Scalars, Span) -> Void) {
    let piece = 4 * Blockwise8Bit.blockSize
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * piece)  // see `withFloat32State`
    defer { scratch.deallocate() }
    let grads = scratch, params = scratch + piece
    let stored = span.masteredParam ?? UnsafeMutableRawPointer(span.param)
    var first = span.start
    while first < span.end {
        let count = min(piece, span.end - first), elements = first ..< first + count
        var part = span
        part.start = first
        part.end = first + count
        part.parameterFormat = .float32
        part.masteredParam = nil
        decodeState(span.grad, format, count: span.count, signed: true, elements: elements, into: grads, blockCoding)
        // Indexed as the parameter is: element i of the piece's scratch is at i - first.
        part.grad = UnsafePointer(grads - first)
        if span.masteredParam == nil {
            decodeState(stored, format, count: span.count, signed: true, elements: elements, into: params, blockCoding)
            part.param = params - first
        }
        kernel(s, part)
        encodeState(part.param + first, format, count: span.count, signed: true, elements: elements, into: stored,
                    blockCoding, seed: span.roundingSeed(slot: nil))
        first += count
    }
}

/// Runs `kernel`, a float32-state kernel, over a span whose element-wise state is in
/// another format (8-bit: its encoding needs a whole block's values at once; bfloat16
/// rounded stochastically: its noise is the encoder's), `piece`
/// elements at a time (whole blocks: a span of 8-bit state starts on one, see
/// `ElementFormat.layoutGranularity`): its formatted slots are decoded to float32
/// scratch, the kernel updates the piece, and the slots are encoded back (each block's
/// new absmax and codes). The arithmetic in between is the float32 kernel's, so the
/// state steps as torch's does, up to its rounding. One pass over memory: the piece stays
/// in L1. `format` is the span's, a constant here, so that the wrapper is specialized.
@inline(__always)
func withFloat32State<Scalars>(_ s: Scalars, _ span: Span, _ format: ElementFormat, _ kernel: (Scalars, Span) -> Void) {
    let piece = 4 * Blockwise8Bit.blockSize
    // On the heap: a temporary allocation this large (over 1 KiB) would ask the Swift
    // runtime, at each call, whether the stack has room; one allocation per span costs
    // less.
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: piece * Span.maxSlots)
    defer { scratch.deallocate() }
    do {
        var first = span.start
        while first < span.end {
            let count = min(piece, span.end - first), elements = first ..< first + count
            // The piece as a span of its own: element 0 is element `first` of the parameter.
            var part = span
            part.param = span.param + first
            part.grad = span.grad + first
            part.start = 0
            part.end = count
            part.tailStart = span.tailStart - first
            for slot in 0 ..< Span.maxSlots where span.formattedSlots & (1 << slot) != 0 {
                guard let memory = span.slot(slot) else { continue }
                decodeState(memory, format, count: span.count, signed: span.signedSlots & (1 << slot) != 0,
                            elements: elements, into: scratch + slot * piece, blockCoding)
                part.setSlot(slot, UnsafeMutableRawPointer(scratch + slot * piece))
            }
            kernel(s, part)
            for slot in 0 ..< Span.maxSlots where span.formattedSlots & (1 << slot) != 0 {
                guard let memory = span.slot(slot) else { continue }
                encodeState(scratch + slot * piece, format, count: span.count, signed: span.signedSlots & (1 << slot) != 0,
                            elements: elements, into: memory, blockCoding, seed: span.roundingSeed(slot: slot))
            }
            first += count
        }
    }
}
