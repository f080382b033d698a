/// Adafactor's passes (torch's `_single_tensor_adafactor`), compiled once per instruction
/// set like the update kernels. Each runs over one tile: `rows` rows of `columns`
/// elements, each row `stride` elements after the one before (the matrix's row length),
/// or a piece of a vector. Sums are in double over 16 lanes (element j of a row in lane
/// j % 16) folded as a fixed tree; squares and products of two floats are exact in
/// double. So every instruction set gives the same bits, and so does any thread count
/// once the caller adds the tiles' sums in a fixed order.
///
/// The update is torch's, rounding where torch's separate ops do: with r and c the row
/// and column factors and m their clamped row mean, v = (r·c)/m, u = (1/sqrt(max(v,
/// floor)))·g (torch's rsqrt), and the parameter becomes fma(u, a, p·decay). A maximized
/// gradient needs no flag: −u·a = u·(−a), so the caller negates `a`.
public struct FactoredKernels: Sendable {
    public typealias Pointer = UnsafeMutablePointer<Float>
    public typealias Input = UnsafePointer<Float>

    /// Over a tile of a factored parameter: `rowSums[r]` = Σ g² of row r, `columnSums[j]`
    /// = Σ g² of column j (added in row order); returns Σ p².
    public let squareSums: @Sendable (_ p: Input, _ g: Input, _ rows: Int, _ columns: Int, _ stride: Int,
                                      _ rowSums: UnsafeMutablePointer<Double>,
                                      _ columnSums: UnsafeMutablePointer<Double>) -> Double
    /// torch's `factor.lerp_(vector_norm(g, dim).square_().div_(divisor), w)` for
    /// `count` factors, from the sums of squares of `blocks` tiles each
    /// (`partials[b·stride + i]`, added in block order); the norm is the double root,
    /// rounded to float32.
    public let finishFactor: @Sendable (_ partials: UnsafePointer<Double>, _ blocks: Int, _ stride: Int,
                                        _ count: Int, _ divisor: Float, _ w: Float, _ factor: Pointer) -> Void
    /// Σ u² over a tile of a factored parameter: `rowFactor` has its `rows` factors,
    /// `columnFactor` its `columns`.
    public let factoredUpdateSquares: @Sendable (_ g: Input, _ rows: Int, _ columns: Int, _ stride: Int,
                                                 _ rowFactor: Input, _ columnFactor: Input, _ mean: Float,
                                                 _ floor: Float) -> Double
    /// The parameter update over a tile of a factored parameter.
    public let factoredApply: @Sendable (_ p: Pointer, _ g: Input, _ rows: Int, _ columns: Int, _ stride: Int,
                                         _ rowFactor: Input, _ columnFactor: Input, _ mean: Float, _ floor: Float,
                                         _ decay: Float, _ a: Float) -> Void
    /// Over a piece of a vector: `variance = lerp(variance, g·g, w)`; returns (Σ p², Σ u²)
    /// with u from the new variance.
    public let vectorSums: @Sendable (_ p: Input, _ g: Input, _ variance: Pointer, _ count: Int, _ w: Float,
                                      _ floor: Float) -> (Double, Double)
    /// The parameter update over a piece of a vector.
    public let vectorApply: @Sendable (_ p: Pointer, _ g: Input, _ variance: Input, _ count: Int, _ floor: Float,
                                       _ decay: Float, _ a: Float) -> Void

    public init(squareSums: @escaping @Sendable (Input, Input, Int, Int, Int, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Double,
                finishFactor: @escaping @Sendable (UnsafePointer<Double>, Int, Int, Int, Float, Float, Pointer) -> Void,
                factoredUpdateSquares: @escaping @Sendable (Input, Int, Int, Int, Input, Input, Float, Float) -> Double,
                factoredApply: @escaping @Sendable (Pointer, Input, Int, Int, Int, Input, Input, Float, Float, Float, Float) -> Void,
                vectorSums: @escaping @Sendable (Input, Input, Pointer, Int, Float, Float) -> (Double, Double),
                vectorApply: @escaping @Sendable (Pointer, Input, Input, Int, Float, Float, Float) -> Void) {
        self.squareSums = squareSums
        self.finishFactor = finishFactor
        self.factoredUpdateSquares = factoredUpdateSquares
        self.factoredApply = factoredApply
        self.vectorSums = vectorSums
        self.vectorApply = vectorApply
    }
}
