/// The part of one parameter that one kernel call updates: the caller's parameter and
/// gradient, the optimizer state slots the rule uses (nil for the others), and the
/// element range. A chunk of a step is a list of spans; a kernel reads and writes each
/// element of its span once. Slots are raw memory in the kernel's state format (the
/// kernel table's key says which), as many as a rule has, up to `maxSlots`.
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
    }

    /// State slot `i` as float32 elements (a float32-state kernel's view).
    @inline(__always)
    public func float32(_ i: Int) -> UnsafeMutablePointer<Float>? {
        let raw = switch i {
        case 0: slots.0
        case 1: slots.1
        case 2: slots.2
        default: slots.3
        }
        return raw?.assumingMemoryBound(to: Float.self)
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
