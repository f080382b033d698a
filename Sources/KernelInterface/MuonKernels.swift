/// Muon's element-wise passes (torch's `_single_tensor_muon` around its Newton–Schulz
/// products), compiled once per instruction set like the update kernels. bfloat16 values
/// are bit patterns (UInt16), rounded to nearest even as torch's `.to(torch.bfloat16)`.
public struct MuonKernels: Sendable {
    public typealias Pointer = UnsafeMutablePointer<Float>
    public typealias Input = UnsafePointer<Float>
    public typealias BFloat16 = UInt16

    /// Over `count` elements: torch's `buf.lerp_(g, 1 − μ)`, then the update
    /// `g.lerp(buf, μ)` (Nesterov) or `buf`, stored as bfloat16 in `x`. Returns Σ x² over
    /// the stored bfloat16 values (exact products, added in double over 16 lanes folded as
    /// a fixed tree: every instruction set gives the same bits).
    public let momentum: @Sendable (_ g: Input, _ buffer: Pointer, _ count: Int, _ bufferWeight: Float,
                                    _ nesterovWeight: Float, _ nesterov: Bool,
                                    _ x: UnsafeMutablePointer<BFloat16>) -> Double
    /// torch's `x.div_(norm)` of a bfloat16 tensor: x = bfloat16(float(x) / divisor).
    public let divide: @Sendable (_ x: UnsafeMutablePointer<BFloat16>, _ count: Int, _ divisor: Float) -> Void
    /// torch's `p.mul_(decay)` then `p.add_(u, alpha: a)`: p = fma(float(u), a, p·decay).
    public let apply: @Sendable (_ p: Pointer, _ u: UnsafePointer<BFloat16>, _ count: Int, _ decay: Float,
                                 _ a: Float) -> Void

    public init(momentum: @escaping @Sendable (Input, Pointer, Int, Float, Float, Bool, UnsafeMutablePointer<BFloat16>) -> Double,
                divide: @escaping @Sendable (UnsafeMutablePointer<BFloat16>, Int, Float) -> Void,
                apply: @escaping @Sendable (Pointer, UnsafePointer<BFloat16>, Int, Float, Float) -> Void) {
        self.momentum = momentum
        self.divide = divide
        self.apply = apply
    }
}
