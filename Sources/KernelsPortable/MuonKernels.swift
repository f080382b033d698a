import KernelInterface

// Muon's element-wise passes (see MuonKernels in KernelInterface), compiled once per
// instruction set like Kernels.swift.

let muonKernels = MuonKernels(momentum: muonMomentumKernel, divide: muonDivideKernel, apply: muonApplyKernel)

@inline(never)
func muonMomentumKernel(_ g: UnsafePointer<Float>, _ buffer: UnsafeMutablePointer<Float>, _ count: Int,
                        _ bufferWeight: Float, _ nesterovWeight: Float, _ nesterov: Bool,
                        _ x: UnsafeMutablePointer<UInt16>) -> Double {
    var squares = WideLanes(repeating: 0)
    addSquares(&squares, count) { i in
        let b = lerp(buffer[i], g[i], bufferWeight)
        buffer[i] = b
        let stored = bfloat16(nesterov ? lerp(g[i], b, nesterovWeight) : b)
        x[i] = stored
        return float(bfloat16: stored)
    }
    return foldSum(squares)
}

@inline(never)
func muonDivideKernel(_ x: UnsafeMutablePointer<UInt16>, _ count: Int, _ divisor: Float) {
    for i in 0 ..< count { x[i] = bfloat16(float(bfloat16: x[i]) / divisor) }
}

@inline(never)
func muonApplyKernel(_ p: UnsafeMutablePointer<Float>, _ u: UnsafePointer<UInt16>, _ count: Int, _ decay: Float,
                     _ a: Float) {
    for i in 0 ..< count { p[i] = (p[i] * decay).addingProduct(float(bfloat16: u[i]), a) }
}
