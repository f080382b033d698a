import KernelInterface

// L-BFGS's flat-vector passes (see VectorKernels in KernelInterface), compiled once per
// instruction set like Kernels.swift. Each pass walks its vectors 16 elements at a time
// (`forEachGroup`: the last group padded with zeros, which add nothing to a sum or a
// maximum of magnitudes) and sums over 16 lanes of doubles, folded as a fixed tree.

let vectorKernels = VectorKernels(
    dot: dotKernel, axpyDot: axpyDotKernel, scaleDot: scaleDotKernel, negate: negateKernel,
    historyPair: historyPairKernel, absMaxSum: absMaxSumKernel, scaledAbsMax: scaledAbsMaxKernel)

@inline(__always)
func loadGroup(_ p: UnsafePointer<Float>, _ i: Int, _ n: Int) -> Lanes {
    if i + 16 <= n { return UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self) }
    var rest = Lanes(repeating: 0)
    for lane in 0 ..< n - i { rest[lane] = p[i + lane] }
    return rest
}

@inline(__always)
func storeGroup(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ i: Int, _ n: Int) {
    if i + 16 <= n {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Lanes.self)
    } else {
        for lane in 0 ..< n - i { p[i + lane] = v[lane] }
    }
}

/// Calls `body` with the offset of each group of 16 elements of `n`.
@inline(__always)
func forEachGroup(_ n: Int, _ body: (Int) -> Void) {
    var i = 0
    while i < n {
        body(i)
        i += 16
    }
}

@inline(__always)
func magnitude(_ v: Lanes) -> Lanes { v.replacing(with: -v, where: v .< 0) }

/// The largest lane, NaN if any lane is NaN.
@inline(__always)
func foldMax(_ m: Lanes) -> Float {
    var value: Float = 0
    for lane in m.indices { value = value.isNaN || m[lane].isNaN ? .nan : max(value, m[lane]) }
    return value
}

/// `maximum` with `v`'s lanes that are larger or NaN (NaN stays).
@inline(__always)
func keepMax(_ maximum: inout Lanes, _ v: Lanes) {
    maximum.replace(with: v, where: (v .> maximum) .| (v .!= v))
}

@inline(never)
func dotKernel(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    var sum = WideLanes(repeating: 0)
    forEachGroup(n) { i in sum += widened(loadGroup(a, i, n)) * widened(loadGroup(b, i, n)) }
    return foldSum(sum)
}

@inline(never)
func axpyDotKernel(_ v: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>,
                   _ w: UnsafePointer<Float>?, _ n: Int) -> Double {
    let alpha = Lanes(repeating: a)
    var sum = WideLanes(repeating: 0)
    forEachGroup(n) { i in
        let updated = loadGroup(v, i, n).addingProduct(loadGroup(x, i, n), alpha)
        storeGroup(updated, v, i, n)
        if let w { sum += widened(loadGroup(w, i, n)) * widened(updated) }
    }
    return foldSum(sum)
}

@inline(never)
func scaleDotKernel(_ v: UnsafeMutablePointer<Float>, _ h: Float, _ w: UnsafePointer<Float>, _ n: Int) -> Double {
    let scale = Lanes(repeating: h)
    var sum = WideLanes(repeating: 0)
    forEachGroup(n) { i in
        let updated = loadGroup(v, i, n) * scale
        storeGroup(updated, v, i, n)
        sum += widened(loadGroup(w, i, n)) * widened(updated)
    }
    return foldSum(sum)
}

@inline(never)
func negateKernel(_ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0 ..< n { out[i] = -v[i] }
}

@inline(never)
func historyPairKernel(_ g: UnsafePointer<Float>, _ previous: UnsafePointer<Float>, _ d: UnsafePointer<Float>,
                       _ t: Float, _ y: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>,
                       _ n: Int) -> (Double, Double) {
    let step = Lanes(repeating: t)
    var ys = WideLanes(repeating: 0), yy = WideLanes(repeating: 0)
    forEachGroup(n) { i in
        let yi = loadGroup(g, i, n) - loadGroup(previous, i, n)
        let si = loadGroup(d, i, n) * step
        storeGroup(yi, y, i, n)
        storeGroup(si, s, i, n)
        let wide = widened(yi)
        ys += wide * widened(si)
        yy += wide * wide
    }
    return (foldSum(ys), foldSum(yy))
}

@inline(never)
func absMaxSumKernel(_ v: UnsafePointer<Float>, _ n: Int) -> (Float, Double) {
    var maximum = Lanes(repeating: 0)
    var sum = WideLanes(repeating: 0)
    forEachGroup(n) { i in
        let m = magnitude(loadGroup(v, i, n))
        keepMax(&maximum, m)
        sum += widened(m)
    }
    return (foldMax(maximum), foldSum(sum))
}

@inline(never)
func scaledAbsMaxKernel(_ v: UnsafePointer<Float>, _ t: Float, _ n: Int) -> Float {
    let step = Lanes(repeating: t)
    var maximum = Lanes(repeating: 0)
    forEachGroup(n) { i in keepMax(&maximum, magnitude(loadGroup(v, i, n) * step)) }
    return foldMax(maximum)
}
