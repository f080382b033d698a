import KernelInterface

/// L-BFGS's passes over its flat vectors and the parameters (torch's
/// `_gather_flat_grad`, `_add_grad`, `_clone_param`, `_set_param`, and the dot products
/// and updates of lbfgs.py), each one pass over the chunks of a `FlatLayout` on the
/// step's threads. Dot products are summed in double and rounded to float32 once, where
/// torch's float32 `dot` rounds as it goes.
struct FlatPasses {
    let layout: FlatLayout
    let kernels: VectorKernels
    let maximize: Bool

    init(_ layout: FlatLayout, maximize: Bool) {
        self.layout = layout
        kernels = Runtime.kernels.vectors
        self.maximize = maximize
    }

    /// The registered gradients into `vector` (negated under `maximize`; a parameter
    /// with no gradient gives zeros), with their max and sum of magnitudes and their dot
    /// product with `d`.
    func gather(into vector: FlatVector, against d: FlatVector?) -> FlatGradient {
        let parts = layout.map((Float(0), 0.0, 0.0)) { range in
            let flat = vector.pointer
            layout.forEachPart(of: range) { parameter, elements, offset in
                let out = flat + offset
                if let grad = parameter.grad {
                    if maximize {
                        _ = kernels.combine(out, grad + elements.lowerBound, 0, nil, 1, nil, elements.count)
                    } else {
                        out.update(from: grad + elements.lowerBound, count: elements.count)
                    }
                } else {
                    out.update(repeating: maximize ? -0.0 : 0, count: elements.count)
                }
            }
            let start = flat + range.lowerBound
            let (maximum, sum) = kernels.absMaxSum(start, range.count)
            let dot = d.map { kernels.dot(start, $0.pointer + range.lowerBound, range.count) } ?? 0
            return (maximum, sum, dot)
        }
        return FlatGradient(vector: vector, absMax: nanMax(parts.map(\.0)),
                            absSum: parts.reduce(0) { $0 + $1.1 }, directional: Float(parts.reduce(0) { $0 + $1.2 }))
    }

    /// `p = t·d + p` for every parameter (torch's `p.add_(d, alpha=t)`), starting from
    /// `origin`'s values when given, after copying the parameters into `backup` when given.
    func addGrad(_ t: Float, _ d: FlatVector, from origin: FlatVector? = nil, backup: FlatVector? = nil) {
        layout.forEachPart { parameter, elements, offset in
            let p = parameter.param + elements.lowerBound
            backup.map { $0.pointer + offset }?.update(from: p, count: elements.count)
            if let origin { p.update(from: origin.pointer + offset, count: elements.count) }
            _ = kernels.combine(p, nil, t, d.pointer + offset, 1, nil, elements.count)
        }
    }

    /// The parameters' values into `x` (torch's `_clone_param`).
    func copyParameters(into x: FlatVector) {
        layout.forEachPart { parameter, elements, offset in
            (x.pointer + offset).update(from: parameter.param + elements.lowerBound, count: elements.count)
        }
    }

    /// The parameters' values from `x` (torch's `_set_param`).
    func setParameters(from x: FlatVector) {
        layout.forEachPart { parameter, elements, offset in
            (parameter.param + elements.lowerBound).update(from: x.pointer + offset, count: elements.count)
        }
    }

    func dot(_ a: FlatVector, _ b: FlatVector) -> Float {
        Float(layout.sum { kernels.dot(a.pointer + $0.lowerBound, b.pointer + $0.lowerBound, $0.count) })
    }

    /// `v = (a·x + u)·h` with u = −source when given, else v (no a·x without x); then
    /// `v·w` (0 without w). Each operation rounds as torch's separate ops would.
    func combine(_ v: FlatVector, negating source: FlatVector? = nil, _ a: Float = 0, _ x: FlatVector? = nil,
                 scale h: Float = 1, dot w: FlatVector?) -> Float {
        func at(_ vector: FlatVector?, _ r: Range<Int>) -> UnsafePointer<Float>? { vector.map { UnsafePointer($0.pointer + r.lowerBound) } }
        return Float(layout.sum { r in
            kernels.combine(v.pointer + r.lowerBound, at(source, r), a, at(x, r), h, at(w, r), r.count)
        })
    }

    /// `y = g − previous`, `s = d·t`; returns (y·s, y·y, s·g).
    func historyPair(_ g: FlatVector, _ previous: FlatVector, _ d: FlatVector, _ t: Float,
                     y: FlatVector, s: FlatVector) -> (Float, Float, Float) {
        let parts = layout.map((0.0, 0.0, 0.0)) { r in
            kernels.historyPair(g.pointer + r.lowerBound, previous.pointer + r.lowerBound, d.pointer + r.lowerBound, t,
                                y.pointer + r.lowerBound, s.pointer + r.lowerBound, r.count)
        }
        return (Float(parts.reduce(0) { $0 + $1.0 }), Float(parts.reduce(0) { $0 + $1.1 }),
                Float(parts.reduce(0) { $0 + $1.2 }))
    }

    /// max |v| (torch's `v.abs().max()`).
    func absMax(_ v: FlatVector) -> Float {
        nanMax(layout.map(Float(0)) { r in kernels.absMaxSum(v.pointer + r.lowerBound, r.count).0 })
    }

    /// max |v·t| (torch's `v.mul(t).abs().max()`).
    func scaledAbsMax(_ v: FlatVector, _ t: Float) -> Float {
        nanMax(layout.map(Float(0)) { r in kernels.scaledAbsMax(v.pointer + r.lowerBound, t, r.count) })
    }
}
