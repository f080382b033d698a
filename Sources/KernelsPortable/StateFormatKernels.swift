import KernelInterface

// Linked into KernelsAVX2 and KernelsAVX512, like Kernels.swift: each build vectorizes
// the conversions for its instruction set, with the same IEEE operations, so every build
// gives the same bits.

/// This module's build of the 8-bit loops.
let blockCoding = BlockCoding.built(for: instructionSet)

/// A dense rule's kernel, generic over how it reads and writes its parameter and
/// gradient (`P`) and its element-wise state (`E`).
protocol RuleKernels: SendableMetatype {
    associatedtype Scalars
    static func run<P: ParameterElements, E: StateElements>(_ s: Scalars, _ span: Span, _: P.Type, _: E.Type)
}

/// A rule's kernel for every parameter format and state format, each the same generic
/// kernel built for the pair, one pass: float32, bfloat16 and float16 parameters (the
/// 16-bit ones with or without a master copy, as the span says), float32 and bfloat16
/// state. What needs float32 values a piece at a time goes through float32 scratch
/// around the float32 build: 8-bit state (its encoding needs a whole block),
/// stochastically rounded bfloat16 state and 16-bit parameters (the noise is the
/// encoder's: `withFloat32State`, `withFloat32Parameter`).
func everyFormat<K: RuleKernels>(_: K.Type) -> [UpdateKernel] {
    typealias Kernel = @Sendable (K.Scalars, Span) -> Void
    /// By state format, the kernel over parameters read through `P`.
    func byState<P: ParameterElements>(_: P.Type) -> [ElementFormat: Kernel] {
        let float32: Kernel = { K.run($0, $1, P.self, Float32Elements.self) }
        return [.float32: float32,
                .bfloat16: { s, span in
                    span.roundingSeed == nil ? K.run(s, span, P.self, BFloat16Elements.self)
                        : withFloat32State(s, span, .bfloat16, float32)
                },
                .int8Blockwise: { s, span in withFloat32State(s, span, .int8Blockwise, float32) }]
    }
    let float32 = byState(Float32Parameters.self)
    /// A 16-bit parameter format's kernels: with a master or without, or through float32
    /// pieces when the parameter is rounded stochastically.
    func half<H: HalfFormat>(_ format: ElementFormat, _: H.Type) -> [UpdateKernel] {
        let plain = byState(HalfParameters<H>.self), mastered = byState(MasteredParameters<H>.self)
        return ElementFormat.stateFormats.map { state in
            let (plain, mastered, pieces) = (plain[state]!, mastered[state]!, float32[state]!)
            return UpdateKernel(parameter: format, state: state) { (s: K.Scalars, span: Span) in
                if span.roundingSeed != nil {
                    withFloat32Parameter(s, span, format, pieces)
                } else {
                    (span.masteredParam == nil ? plain : mastered)(s, span)
                }
            }
        }
    }
    return ElementFormat.stateFormats.map { UpdateKernel(state: $0, float32[$0]!) }
        + half(.bfloat16, BFloat16Format.self) + half(.float16, Float16Format.self)
}

/// Runs `kernel`, a float32-state kernel, over a span whose element-wise state is in
/// another format (8-bit: its encoding needs a whole block's values at once; bfloat16
/// rounded stochastically: its noise is the encoder's), `piece` elements at a time (whole
/// blocks: a span of 8-bit state starts on one, see `ElementFormat.layoutGranularity`):
/// its formatted slots are decoded to float32 scratch, the kernel updates the piece, and
/// the slots are encoded back (each block's new absmax and codes). The arithmetic in
/// between is the float32 kernel's, so the state steps as torch's does, up to its
/// rounding. One pass over memory: the piece stays in L1. The piece keeps the
/// parameter's element indices (its parameter and gradient, in any format, are read
/// where they are); `format` is the span's, a constant here, so that the wrapper is
/// specialized.
@inline(__always)
func withFloat32State<Scalars>(_ s: Scalars, _ span: Span, _ format: ElementFormat, _ kernel: (Scalars, Span) -> Void) {
    let piece = 4 * Blockwise8Bit.blockSize
    // On the heap: a temporary allocation this large (over 1 KiB) would ask the Swift
    // runtime, at each call, whether the stack has room; one allocation per span costs
    // less.
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: piece * Span.maxSlots)
    defer { scratch.deallocate() }
    span.forEachPiece(piece) { part, elements in
        let first = elements.lowerBound
        for slot in 0 ..< Span.maxSlots where span.formattedSlots & (1 << slot) != 0 {
            guard let memory = span.slot(slot) else { continue }
            decodeState(memory, format, count: span.count, signed: span.signedSlots & (1 << slot) != 0,
                        elements: elements, into: scratch + slot * piece, blockCoding)
            // Indexed as the parameter is: element i of the piece's scratch is at i - first.
            part.setSlot(slot, UnsafeMutableRawPointer(scratch + slot * piece - first))
        }
        kernel(s, part)
        for slot in 0 ..< Span.maxSlots where span.formattedSlots & (1 << slot) != 0 {
            guard let memory = span.slot(slot) else { continue }
            encodeState(scratch + slot * piece, format, count: span.count, signed: span.signedSlots & (1 << slot) != 0,
                        elements: elements, into: memory, blockCoding, seed: span.roundingSeed(slot: slot))
        }
    }
}

/// Runs `kernel`, a kernel of float32 parameters, over a span whose parameter and
/// gradient are in `format` (bfloat16 or float16), `piece` elements at a time: the
/// gradient is widened into float32 scratch, and so is the parameter unless the span has
/// a master copy (then the kernel updates the copy); after the kernel, the parameter is
/// rewritten from the updated float32 values, rounded stochastically
/// (`Span.roundingSeed`: the noise is the encoder's; rounded to nearest even, the
/// kernels read and write 16-bit parameters in their one pass). The arithmetic is the
/// float32 kernel's. The piece stays in L1, and keeps the parameter's element indices
/// (the state's blocks are addressed by them).
@inline(__always)
func withFloat32Parameter<Scalars>(_ s: Scalars, _ span: Span, _ format: ElementFormat,
                                   _ kernel: (Scalars, Span) -> Void) {
    let piece = 4 * Blockwise8Bit.blockSize
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * piece)  // see `withFloat32State`
    defer { scratch.deallocate() }
    let grads = scratch, params = scratch + piece
    let stored = span.masteredParam ?? UnsafeMutableRawPointer(span.param)
    span.forEachPiece(piece) { part, elements in
        let first = elements.lowerBound
        part.parameterFormat = .float32
        part.masteredParam = nil
        decodeState(span.grad, format, count: span.count, signed: true, elements: elements, into: grads, blockCoding)
        part.grad = UnsafePointer(grads - first)
        if span.masteredParam == nil {
            decodeState(stored, format, count: span.count, signed: true, elements: elements, into: params, blockCoding)
            part.param = params - first
        }
        kernel(s, part)
        encodeState(part.param + first, format, count: span.count, signed: true, elements: elements, into: stored,
                    blockCoding, seed: span.roundingSeed(slot: nil))
    }
}
