/// The part of one parameter that one kernel call updates: the caller's parameter and
/// gradient (in `parameterFormat`, which kernels read through `ParameterElements`), the
/// optimizer state slots the rule uses (nil for the others), and the
/// element range. A chunk of a step is a list of spans; a kernel reads and writes each
/// element of its span once. Slots are raw memory, as many as a rule has, up to
/// `maxSlots`: the element-wise ones in `stateFormat` (`formattedSlots`), the others
/// (scalar state) in float32.
public struct Span {
    public static let maxSlots = 4

    public var param: UnsafeMutablePointer<Float>
    public var grad: UnsafePointer<Float>
    public var slots: Slots
    /// The elements to update, `start ..< end`, indices into the whole parameter.
    public var start: Int
    public var end: Int
    /// Where torch's fused kernels switch to their scalar loop for this parameter: the
    /// elements from here on use the tail's fma form (see `torchScalarTailStart`).
    public var tailStart: Int
    /// Slots allocated for this step that no step has written yet (bit i = slot i).
    /// SGD needs it: torch copies the gradient into a new momentum buffer.
    public var freshSlots: UInt8
    /// The parameter's element count (where an 8-bit slot's absmax values start).
    public var count: Int
    /// The format of the slots in `formattedSlots` (bit i = slot i), the parameter's
    /// element-wise state; the kernel table's key says which formats a kernel takes.
    public var stateFormat: ElementFormat = .float32
    public var formattedSlots: UInt8 = 0
    /// The slots that take either sign (8-bit: quantized with the signed map).
    public var signedSlots: UInt8 = 0
    /// The format of the caller's parameter and gradient, which `param` and `grad`
    /// address (typed for float32, the format of every kernel's arithmetic).
    public var parameterFormat: ElementFormat = .float32
    /// With a master copy (`master_weights`): the caller's parameter, in
    /// `parameterFormat`, rewritten from the updated copy, which `param` then addresses.
    public var masteredParam: UnsafeMutableRawPointer?
    /// With stochastic rounding (`stochastic_rounding`), this parameter's and step's seed:
    /// bfloat16 state and a bfloat16 or float16 parameter are rounded stochastically
    /// (`roundingSeed(slot:)`); nil rounds to nearest even.
    public var roundingSeed: UInt32?

    public typealias Slots = (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?,
                              UnsafeMutableRawPointer?)

    public init(param: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, slots: Slots,
                start: Int, end: Int, count: Int, freshSlots: UInt8) {
        self.param = param
        self.grad = grad
        self.slots = slots
        self.start = start
        self.end = end
        self.tailStart = torchScalarTailStart(count)
        self.freshSlots = freshSlots
        self.count = count
    }

    /// State slot `i` as float32 elements (a float32-state kernel's view).
    @inline(__always)
    public func float32(_ i: Int) -> UnsafeMutablePointer<Float>? {
        slot(i)?.assumingMemoryBound(to: Float.self)
    }

    /// State slot `i` as elements of type `E` (a kernel's view of its state in the span's
    /// format).
    @inline(__always)
    public func elements<E: StateElements>(_ i: Int, _: E.Type) -> E? {
        slot(i).map(E.init)
    }

    /// State slot `i`'s memory, in its format.
    @inline(__always)
    public func slot(_ i: Int) -> UnsafeMutableRawPointer? {
        switch i {
        case 0: slots.0
        case 1: slots.1
        case 2: slots.2
        default: slots.3
        }
    }

    @inline(__always)
    public mutating func setSlot(_ i: Int, _ memory: UnsafeMutableRawPointer?) {
        switch i {
        case 0: slots.0 = memory
        case 1: slots.1 = memory
        case 2: slots.2 = memory
        default: slots.3 = memory
        }
    }

    /// The seed that rounds slot `slot` (nil: the parameter itself), so that each buffer
    /// gets noise of its own.
    @inline(__always)
    public func roundingSeed(slot: Int?) -> UInt32? {
        roundingSeed.map { $0 &+ UInt32(truncatingIfNeeded: (slot ?? -1) + 1) &* 0x9E37_79B9 }
    }

    /// Calls `body` with each piece of `piece` elements of the span (the last may be
    /// shorter): a copy of the span narrowed to the piece's elements, which keeps the
    /// parameter's element indices, to point at scratch and hand to a kernel.
    @inlinable @inline(__always)
    public func forEachPiece(_ piece: Int, _ body: (inout Span, Range<Int>) -> Void) {
        for first in stride(from: start, to: end, by: piece) {
            var part = self
            part.start = first
            part.end = min(first + piece, end)
            body(&part, part.start ..< part.end)
        }
    }

    /// The span's vector part and its torch-scalar-tail part.
    public var bodyRange: Range<Int> { start ..< max(start, min(end, tailStart)) }
    public var tailRange: Range<Int> { max(start, min(end, tailStart)) ..< end }
}

/// Where torch's fused kernels switch to their scalar loop. They run 16 floats at a time
/// (AVX-512); the compiler vectorized the remainder loop 8 wide, with the vector body's
/// fma contraction, and left the last `count % 8` elements to scalar code, where it
/// contracted `x·a + y·b` the other way (`fma(x, a, y·b)` instead of `fma(y, b, x·a)`).
/// Rules that have such a sum (SGD's momentum, Adam's second moment) switch form at this
/// index to match torch bit for bit; measured element by element against torch 2.15
/// (Tests/parity/test_execution.py covers every remainder length).
public func torchScalarTailStart(_ count: Int) -> Int {
    count - count % 8
}
