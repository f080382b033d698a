import KernelInterface

// The gradient passes' kernels (compiled once per instruction set, like Kernels.swift).
// A norm is a reduction, and a float reduction is only deterministic if its order is
// fixed: these kernels sum into 16 lanes (element i of a span goes to lane i % 16; spans
// start on multiples of 16 elements of their parameter) and fold the lanes as a fixed
// tree. Squares and magnitudes are taken in double, where the square of a float is
// exact, so every lane adds with one rounding and no instruction set differs.

typealias Lanes = SIMD16<Float>
typealias WideLanes = SIMD16<Double>

@inline(never)
func normKernel(_ g: UnsafePointer<Float>, _ count: Int, _ scale: Float, _ kind: NormKind) -> NormPartial {
    switch kind {
    case .l2: sumKernel(g, count, scale, squares: true)
    case .l1: sumKernel(g, count, scale, squares: false)
    case .inf: maxKernel(g, count, scale)
    }
}

/// Σu² (or Σ|u|) over lanes of doubles, and the inf/NaN check (`u * 0` is 0 unless u is
/// inf or NaN).
@inline(__always)
func sumKernel(_ g: UnsafePointer<Float>, _ count: Int, _ scale: Float, squares: Bool) -> NormPartial {
    var sum = WideLanes(repeating: 0)
    var check = Lanes(repeating: 0)
    forEachLanes(g, count, scale) { u in
        let d = widened(u)
        sum += squares ? d * d : d.replacing(with: -d, where: d .< 0)
        check += u * 0
    }
    return NormPartial(value: foldSum(sum), nonfinite: foldSum(check) != 0)
}

/// max|u| with NaN kept, and the inf/NaN check.
@inline(__always)
func maxKernel(_ g: UnsafePointer<Float>, _ count: Int, _ scale: Float) -> NormPartial {
    var maximum = Lanes(repeating: 0)
    var check = Lanes(repeating: 0)
    forEachLanes(g, count, scale) { u in
        let magnitude = u.replacing(with: -u, where: u .< 0)
        maximum.replace(with: magnitude, where: (magnitude .> maximum) .| (magnitude .!= magnitude))
        check += u * 0
    }
    var value = 0.0
    for lane in maximum.indices {
        let m = Double(maximum[lane])
        value = value.isNaN || m.isNaN ? .nan : max(value, m)
    }
    return NormPartial(value: value, nonfinite: foldSum(check) != 0)
}

/// Calls `body` with 16 elements at a time, each divided by `scale`; the last group is
/// padded with zeros (which add nothing to any norm).
@inline(__always)
func forEachLanes(_ g: UnsafePointer<Float>, _ count: Int, _ scale: Float, _ body: (Lanes) -> Void) {
    let divisor = Lanes(repeating: scale)
    var i = 0
    while i + 16 <= count {
        body(UnsafeRawPointer(g + i).loadUnaligned(as: Lanes.self) / divisor)
        i += 16
    }
    if i < count {
        var rest = Lanes(repeating: 0)
        for lane in 0 ..< count - i { rest[lane] = g[i + lane] / scale }
        body(rest)
    }
}

/// Each lane converted to double (exact).
@inline(__always)
func widened(_ u: Lanes) -> WideLanes {
    var d = WideLanes()
    for lane in 0 ..< 16 { d[lane] = Double(u[lane]) }
    return d
}

/// The lanes' sum as a fixed tree: halves added pairwise, down to one.
@inline(__always)
func foldSum<Scalar: BinaryFloatingPoint & SIMDScalar>(_ lanes: SIMD16<Scalar>) -> Double {
    let eight = lanes.lowHalf + lanes.highHalf
    let four = eight.lowHalf + eight.highHalf
    let two = four.lowHalf + four.highHalf
    return Double(two[0] + two[1])
}

@inline(never)
func transformKernel(_ g: UnsafeMutablePointer<Float>, _ count: Int, _ t: GradientTransform) {
    if let limit = t.clipValue {
        transformLoop(g, count, t, limit: limit)
    } else {
        transformLoop(g, count, t, limit: nil)
    }
}

@inline(__always)
func transformLoop(_ g: UnsafeMutablePointer<Float>, _ count: Int, _ t: GradientTransform, limit: Float?) {
    for i in 0 ..< count {
        var u = g[i] / t.scale * t.coefficient
        if let limit {
            u = u < -limit ? -limit : u > limit ? limit : u
        }
        g[i] = u
    }
}
