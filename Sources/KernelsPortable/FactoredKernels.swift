import KernelInterface

// Adafactor's passes (see FactoredKernels in KernelInterface), compiled once per
// instruction set like Kernels.swift. Sums run over 16 lanes of doubles, each row (or
// vector piece) from lane 0, a partial last group padded with zeros; columns are added
// in row order.

let factoredKernels = FactoredKernels(
    squareSums: squareSumsKernel, finishFactor: finishFactorKernel,
    factoredUpdateSquares: factoredUpdateSquaresKernel, factoredApply: factoredApplyKernel,
    vectorSums: vectorSumsKernel, vectorApply: vectorApplyKernel)

/// torch's `clamp_(min=floor).rsqrt_()` then `mul_(g)`: the reciprocal of the correctly
/// rounded root, as torch's rsqrt (NaN stays NaN, as in torch's clamp).
@inline(__always)
func scaledByRootReciprocal(_ g: Float, _ variance: Float, _ floor: Float) -> Float {
    (1 / (variance < floor ? floor : variance).squareRoot()) * g
}

/// torch's `(row_var @ col_var).div_(mean)` for one element, then the update.
@inline(__always)
func factoredUpdate(_ g: Float, _ r: Float, _ c: Float, _ mean: Float, _ floor: Float) -> Float {
    scaledByRootReciprocal(g, (r * c) / mean, floor)
}

/// `acc[l] += u(j)²` for each j ≡ l (mod 16) of `n` elements, u(j) given by `value`.
@inline(__always)
func addSquares(_ acc: inout WideLanes, _ n: Int, _ value: (Int) -> Float) {
    var j = 0
    while j + 16 <= n {
        var s = WideLanes()
        for l in 0 ..< 16 {
            let u = value(j + l)
            s[l] = Double(u) * Double(u)
        }
        acc += s
        j += 16
    }
    if j < n {
        var s = WideLanes(repeating: 0)
        for l in 0 ..< n - j {
            let u = value(j + l)
            s[l] = Double(u) * Double(u)
        }
        acc += s
    }
}

@inline(never)
func squareSumsKernel(_ p: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ rows: Int, _ columns: Int, _ stride: Int,
                      _ rowSums: UnsafeMutablePointer<Double>, _ columnSums: UnsafeMutablePointer<Double>) -> Double {
    var squares = WideLanes(repeating: 0)
    columnSums.update(repeating: 0, count: columns)
    for r in 0 ..< rows {
        let pr = p + r * stride, gr = g + r * stride
        var row = WideLanes(repeating: 0)
        addProducts(&row, gr, gr, columns)
        rowSums[r] = foldSum(row)
        addProducts(&squares, pr, pr, columns)
        for j in 0 ..< columns {
            let x = Double(gr[j])
            columnSums[j] += x * x
        }
    }
    return foldSum(squares)
}

@inline(never)
func finishFactorKernel(_ partials: UnsafePointer<Double>, _ blocks: Int, _ stride: Int, _ count: Int,
                        _ divisor: Float, _ w: Float, _ factor: UnsafeMutablePointer<Float>) {
    // Block by block into the first block's sums (its own memory: the caller's scratch),
    // so that each pass reads contiguous memory; the order of additions per factor is
    // the block order all the same.
    let sums = UnsafeMutablePointer(mutating: partials)
    for b in 1 ..< max(blocks, 1) {
        let block = partials + b * stride
        for i in 0 ..< count { sums[i] += block[i] }
    }
    for i in 0 ..< count {
        let norm = Float(sums[i].squareRoot())
        factor[i] = lerp(factor[i], (norm * norm) / divisor, w)
    }
}

@inline(never)
func factoredUpdateSquaresKernel(_ g: UnsafePointer<Float>, _ rows: Int, _ columns: Int, _ stride: Int,
                                 _ rowFactor: UnsafePointer<Float>, _ columnFactor: UnsafePointer<Float>, _ mean: Float,
                                 _ floor: Float) -> Double {
    var squares = WideLanes(repeating: 0)
    for r in 0 ..< rows {
        let gr = g + r * stride, factor = rowFactor[r]
        addSquares(&squares, columns) { j in factoredUpdate(gr[j], factor, columnFactor[j], mean, floor) }
    }
    return foldSum(squares)
}

@inline(never)
func factoredApplyKernel(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ rows: Int, _ columns: Int,
                         _ stride: Int, _ rowFactor: UnsafePointer<Float>, _ columnFactor: UnsafePointer<Float>,
                         _ mean: Float, _ floor: Float, _ decay: Float, _ a: Float) {
    for r in 0 ..< rows {
        let pr = p + r * stride, gr = g + r * stride, factor = rowFactor[r]
        for j in 0 ..< columns {
            pr[j] = (pr[j] * decay).addingProduct(factoredUpdate(gr[j], factor, columnFactor[j], mean, floor), a)
        }
    }
}

@inline(never)
func vectorSumsKernel(_ p: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ variance: UnsafeMutablePointer<Float>,
                      _ n: Int, _ w: Float, _ floor: Float) -> (Double, Double) {
    var parameters = WideLanes(repeating: 0), updates = WideLanes(repeating: 0)
    addProducts(&parameters, p, p, n)
    forEachTile(n) { start, count in
        for i in start ..< start + count { variance[i] = lerp(variance[i], g[i] * g[i], w) }
        let gt = g + start, vt = variance + start
        addSquares(&updates, count) { i in scaledByRootReciprocal(gt[i], vt[i], floor) }
    }
    return (foldSum(parameters), foldSum(updates))
}

@inline(never)
func vectorApplyKernel(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ variance: UnsafePointer<Float>,
                       _ n: Int, _ floor: Float, _ decay: Float, _ a: Float) {
    for i in 0 ..< n {
        p[i] = (p[i] * decay).addingProduct(scaledByRootReciprocal(g[i], variance[i], floor), a)
    }
}
