import KernelInterface

// L-BFGS's flat-vector passes (see VectorKernels in KernelInterface), compiled once per
// instruction set like Kernels.swift. Sums are over 16 lanes of doubles (element i in lane
// i % 16, a partial last group padded with zeros, which add nothing to a sum or a maximum
// of magnitudes), folded as a fixed tree. A fused pass updates a tile, then sums over it.

let vectorKernels = VectorKernels(
    dot: dotKernel, combine: combineKernel, historyPair: historyPairKernel, absMaxSum: absMaxSumKernel,
    scaledAbsMax: scaledAbsMaxKernel)

/// Elements a fused pass updates before it sums over them, while they are in cache.
let tileElements = 1024

/// `acc[l] += a[i]·b[i]` for each i ≡ l (mod 16) of `n` elements. Written lane by lane
/// into a vector, which LLVM turns into whole-vector conversions and products (Swift's
/// SIMD conversions and a loop that also stores did not vectorize).
@inline(__always)
func addProducts(_ acc: inout WideLanes, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n {
        var p = WideLanes()
        for l in 0 ..< 16 { p[l] = Double(a[i + l]) * Double(b[i + l]) }
        acc += p
        i += 16
    }
    if i < n {
        var p = WideLanes(repeating: 0)
        for l in 0 ..< n - i { p[l] = Double(a[i + l]) * Double(b[i + l]) }
        acc += p
    }
}

/// Calls `body(start, count)` for consecutive tiles of `n` elements (multiples of 16
/// but the last), so that lanes keep their place across tiles.
@inline(__always)
func forEachTile(_ n: Int, _ body: (Int, Int) -> Void) {
    var i = 0
    while i < n {
        let count = min(tileElements, n - i)
        body(i, count)
        i += count
    }
}

/// The largest lane, NaN if any lane is NaN.
@inline(__always)
func foldMax(_ m: Lanes) -> Float {
    var value: Float = 0
    for lane in m.indices { value = value.isNaN || m[lane].isNaN ? .nan : max(value, m[lane]) }
    return value
}

/// Each lane of `maximum` with the magnitude of the element of `v` in that lane when it
/// is larger or NaN (NaN stays); with `sum`, also adds the magnitudes. `scale`
/// multiplies each element first.
@inline(__always)
func addMagnitudes(_ maximum: inout Lanes, _ sum: inout WideLanes, _ v: UnsafePointer<Float>, _ n: Int,
                   scale: Float = 1, summing: Bool) {
    var i = 0
    while i < n {
        var m = Lanes(repeating: 0)
        for l in 0 ..< min(16, n - i) { m[l] = abs(v[i + l] * scale) }
        maximum.replace(with: m, where: (m .> maximum) .| (m .!= m))
        if summing {
            var wide = WideLanes()
            for l in 0 ..< 16 { wide[l] = Double(m[l]) }
            sum += wide
        }
        i += 16
    }
}

@inline(never)
func dotKernel(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    var sum = WideLanes(repeating: 0)
    addProducts(&sum, a, b, n)
    return foldSum(sum)
}

@inline(never)
func combineKernel(_ v: UnsafeMutablePointer<Float>, _ source: UnsafePointer<Float>?, _ a: Float,
                   _ x: UnsafePointer<Float>?, _ h: Float, _ w: UnsafePointer<Float>?, _ n: Int) -> Double {
    // One loop per case, so that no branch stays in a loop body.
    switch (source, x) {
    case let (source?, x?): combineLoop(v, n, w) { i in (-source[i]).addingProduct(x[i], a) * h }
    case let (source?, nil): combineLoop(v, n, w) { i in -source[i] * h }
    case let (nil, x?): combineLoop(v, n, w) { i in v[i].addingProduct(x[i], a) * h }
    case (nil, nil): combineLoop(v, n, w) { i in v[i] * h }
    }
}

@inline(__always)
func combineLoop(_ v: UnsafeMutablePointer<Float>, _ n: Int, _ w: UnsafePointer<Float>?,
                 _ value: (Int) -> Float) -> Double {
    var sum = WideLanes(repeating: 0)
    forEachTile(n) { start, count in
        for i in start ..< start + count { v[i] = value(i) }
        if let w { addProducts(&sum, w + start, v + start, count) }
    }
    return foldSum(sum)
}

@inline(never)
func historyPairKernel(_ g: UnsafePointer<Float>, _ previous: UnsafePointer<Float>, _ d: UnsafePointer<Float>,
                       _ t: Float, _ y: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>,
                       _ n: Int) -> (Double, Double, Double) {
    var ys = WideLanes(repeating: 0), yy = WideLanes(repeating: 0), sg = WideLanes(repeating: 0)
    forEachTile(n) { start, count in
        for i in start ..< start + count {
            y[i] = g[i] - previous[i]
            s[i] = d[i] * t
        }
        addProducts(&ys, y + start, s + start, count)
        addProducts(&yy, y + start, y + start, count)
        addProducts(&sg, s + start, g + start, count)
    }
    return (foldSum(ys), foldSum(yy), foldSum(sg))
}

@inline(never)
func absMaxSumKernel(_ v: UnsafePointer<Float>, _ n: Int) -> (Float, Double) {
    var maximum = Lanes(repeating: 0)
    var sum = WideLanes(repeating: 0)
    addMagnitudes(&maximum, &sum, v, n, summing: true)
    return (foldMax(maximum), foldSum(sum))
}

@inline(never)
func scaledAbsMaxKernel(_ v: UnsafePointer<Float>, _ t: Float, _ n: Int) -> Float {
    var maximum = Lanes(repeating: 0)
    var sum = WideLanes(repeating: 0)
    addMagnitudes(&maximum, &sum, v, n, scale: t, summing: false)
    return foldMax(maximum)
}
