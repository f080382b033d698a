/// The buffers one parameter's update reads and writes: the caller's parameter and
/// gradient, and the optimizer state slots the rule asked for (nil for the others).
struct Buffers {
    let param: UnsafeMutablePointer<Float>
    let grad: UnsafePointer<Float>
    let slot0: UnsafeMutablePointer<Float>?
    let slot1: UnsafeMutablePointer<Float>?
    let slot2: UnsafeMutablePointer<Float>?
    /// Elements in the whole parameter (a kernel may be given only a range of them).
    let count: Int
    /// Slots allocated for this step that no step has written yet (bit i = slot i).
    /// SGD needs it: torch copies the gradient into a new momentum buffer.
    let freshSlots: UInt8
}

/// One algorithm's math, kept apart from groups, buffers and threads. A step of one
/// parameter computes its `Scalars` once (in double, as torch does) and then runs
/// `kernel` over element ranges; a kernel reads and writes each element once.
protocol UpdateRule {
    associatedtype Scalars

    /// torch's state keys, by slot index (at most three).
    static var stateNames: [String] { get }

    /// The slots a step with these hyperparameters uses, as a bit mask.
    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8

    /// The value a newly allocated slot starts with.
    static func initialValue(ofSlot slot: Int, initialAccumulator: Float) -> Float

    /// Per-step scalars; `step` counts this step (1 on a parameter's first step).
    /// `algorithm` tells rules that serve two algorithms (Adam, AdamW) which one runs.
    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars

    /// Updates elements `range` of one parameter.
    static func kernel(_ s: Scalars, _ b: Buffers, _ range: Range<Int>)
}

extension UpdateRule {
    static func initialValue(ofSlot slot: Int, initialAccumulator: Float) -> Float { 0 }
}

/// Where torch's fused kernels switch from vectors to their scalar loop: they run 16
/// floats at a time (AVX-512) and the last `count % 16` elements of each tensor one by
/// one. The compiler contracted `x·a + y·b` into an fma differently in that loop
/// (`fma(x, a, y·b)` instead of `fma(y, b, x·a)`), so rules that have such a sum (SGD's
/// momentum, Adam's second moment) do the same past this index, to match torch bit for
/// bit. (torch built for AVX2 has 8-wide vectors and a scalar loop of `count % 8` only;
/// against it the elements in between may differ by one ulp.)
@inline(__always)
func torchScalarTailStart(_ count: Int) -> Int {
    count - count % 16
}

/// torch's `lerp(a, b, w)` for a float32 weight: `fma(w, b - a, a)` when |w| < 0.5, else
/// `fma(w - 1, b - a, b)`, which keeps the result exact at both ends.
@inline(__always)
func lerp(_ a: Float, _ b: Float, _ w: Float) -> Float {
    let diff = b - a
    return w.magnitude < 0.5 ? a.addingProduct(w, diff) : b.addingProduct(w - 1, diff)
}

/// torch's `maximum`: NaN if either side is NaN.
@inline(__always)
func nanMaximum(_ a: Float, _ b: Float) -> Float {
    if a.isNaN || b.isNaN { return a + b }
    return a > b ? a : b
}
