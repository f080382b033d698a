/// The part of one parameter that one kernel call updates: the caller's parameter and
/// gradient, the optimizer state slots the rule uses (nil for the others), and the
/// element range. A chunk of a step is a list of spans; a kernel reads and writes each
/// element of its span once.
public struct Span {
    public var param: UnsafeMutablePointer<Float>
    public var grad: UnsafePointer<Float>
    public var slot0: UnsafeMutablePointer<Float>?
    public var slot1: UnsafeMutablePointer<Float>?
    public var slot2: UnsafeMutablePointer<Float>?
    /// The elements to update, `start ..< end`, indices into the whole parameter.
    public var start: Int
    public var end: Int
    /// Where torch's fused kernels switch to their scalar loop for this parameter: the
    /// elements from here on use the tail's fma form (see `torchScalarTailStart`).
    public var tailStart: Int
    /// Slots allocated for this step that no step has written yet (bit i = slot i).
    /// SGD needs it: torch copies the gradient into a new momentum buffer.
    public var freshSlots: UInt8

    public init(param: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
                slot0: UnsafeMutablePointer<Float>?, slot1: UnsafeMutablePointer<Float>?,
                slot2: UnsafeMutablePointer<Float>?, start: Int, end: Int, count: Int,
                freshSlots: UInt8) {
        self.param = param
        self.grad = grad
        self.slot0 = slot0
        self.slot1 = slot1
        self.slot2 = slot2
        self.start = start
        self.end = end
        self.tailStart = torchScalarTailStart(count)
        self.freshSlots = freshSlots
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
