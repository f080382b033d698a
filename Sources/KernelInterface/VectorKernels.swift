/// The flat-vector passes of L-BFGS (one vector over all parameters), compiled once per
/// instruction set like the update kernels. Sums are returned in double, taken over 16
/// lanes (element i goes to lane i % 16 of the pointer it is given, so callers pass
/// pieces that start on multiples of 16 of their vector) and folded as a fixed tree:
/// the same bits for every instruction set, and for any thread count once the caller
/// adds the pieces in a fixed order. Products of two floats are exact in double.
/// `a·x + v` is one fused multiply-add, as torch's `add_(x, alpha=a)`.
public struct VectorKernels: Sendable {
    public typealias Pointer = UnsafeMutablePointer<Float>
    public typealias Input = UnsafePointer<Float>

    /// Σ a·b.
    public let dot: @Sendable (Input, Input, Int) -> Double
    /// `v = (a·x + u)·h`, where u is −source when `source` is given, else v (x nil: no
    /// a·x); then Σ w·v over the new v (0 when `w` is nil). Each operation rounds to
    /// float32 as torch's separate ops do (h = 1 changes nothing).
    public let combine: @Sendable (Pointer, Input?, Float, Input?, Float, Input?, Int) -> Double
    /// `y = g − previous`, `s = d·t`; returns (Σ y·s, Σ y·y, Σ s·g).
    public let historyPair: @Sendable (Input, Input, Input, Float, Pointer, Pointer, Int) -> (Double, Double, Double)
    /// (max |v|, Σ |v|); a NaN makes the maximum NaN.
    public let absMaxSum: @Sendable (Input, Int) -> (Float, Double)
    /// max |v·t| (a NaN makes it NaN).
    public let scaledAbsMax: @Sendable (Input, Float, Int) -> Float

    public init(dot: @escaping @Sendable (Input, Input, Int) -> Double,
                combine: @escaping @Sendable (Pointer, Input?, Float, Input?, Float, Input?, Int) -> Double,
                historyPair: @escaping @Sendable (Input, Input, Input, Float, Pointer, Pointer, Int) -> (Double, Double, Double),
                absMaxSum: @escaping @Sendable (Input, Int) -> (Float, Double),
                scaledAbsMax: @escaping @Sendable (Input, Float, Int) -> Float) {
        self.dot = dot
        self.combine = combine
        self.historyPair = historyPair
        self.absMaxSum = absMaxSum
        self.scaledAbsMax = scaledAbsMax
    }
}
