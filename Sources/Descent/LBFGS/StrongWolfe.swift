/// torch's `_strong_wolfe` (lbfgs.py, ported from minFunc's lswolfe.lua): bracketing,
/// then zoom with cubic interpolation, at most `maxLS` evaluations after the first, in
/// torch's mix of Python floats and float32 tensors (`TorchScalar`). `evaluate(t)`
/// returns the loss and the gradient (with its dot product with d) at x + t·d.
/// Returns the loss, gradient and step of the point it ends at, and its evaluations.
func strongWolfe(
    evaluate: (TorchScalar) throws(DescentError) -> (Double, FlatGradient),
    t initialT: TorchScalar, d: FlatVector, dNorm: Float, f: Double, g: FlatGradient, gtd: TorchScalar,
    c1: Double = 1e-4, c2: Double = 0.9, toleranceChange: Double, maxLS: Int
) throws(DescentError) -> (f: Double, g: FlatGradient, t: TorchScalar, evaluations: Int) {
    let c1 = TorchScalar.double(c1), c2 = TorchScalar.double(c2)
    var t = initialT
    var (fNew, gNew) = try evaluate(t)
    var evaluations = 1
    var gtdNew = TorchScalar.float(gNew.directional)
    /// torch's `f_new > (f + c1 * t * gtd)`: the Armijo condition fails.
    func armijoFails() -> Bool { .double(fNew) > .double(f) + c1 * t * gtd }

    var tPrev: TorchScalar = 0, fPrev = f, gPrev = g, gtdPrev = gtd
    var done = false
    var lsIter = 0
    var bracket: [TorchScalar] = [], bracketF: [Double] = [], bracketG: [FlatGradient] = []
    var bracketGtd: [TorchScalar] = []
    while lsIter < maxLS {
        let bracketed = armijoFails() || (lsIter > 1 && fNew >= fPrev)
        if !bracketed && gtdNew.magnitude <= -c2 * gtd {
            (bracket, bracketF, bracketG) = ([t], [fNew], [gNew])
            done = true
            break
        }
        if bracketed || gtdNew >= 0 {
            (bracket, bracketF, bracketG, bracketGtd) = ([tPrev, t], [fPrev, fNew], [gPrev, gNew], [gtdPrev, gtdNew])
            break
        }
        // interpolate
        let minStep = t + 0.01 * (t - tPrev)
        let maxStep = t * 10
        let tmp = t
        t = cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, bounds: (minStep, maxStep))
        (tPrev, fPrev, gPrev, gtdPrev) = (tmp, fNew, gNew, gtdNew)
        (fNew, gNew) = try evaluate(t)
        evaluations += 1
        gtdNew = .float(gNew.directional)
        lsIter += 1
    }
    if lsIter == maxLS {
        (bracket, bracketF, bracketG) = ([0, t], [f, fNew], [g, gNew])
    }

    // zoom: refine the bracket until a point satisfies the conditions
    var insufficientProgress = false
    var (low, high) = bracketF[0] <= bracketF[bracketF.count - 1] ? (0, 1) : (1, 0)
    while !done && lsIter < maxLS {
        if (bracket[1] - bracket[0]).magnitude * .float(dNorm) < .double(toleranceChange) { break }
        t = cubicInterpolate(bracket[0], bracketF[0], bracketGtd[0], bracket[1], bracketF[1], bracketGtd[1])
        // Close to an end, or at or past one: move a tenth of the bracket inside.
        let top = pythonMax(bracket[0], bracket[1]), bottom = pythonMin(bracket[0], bracket[1])
        let eps = 0.1 * (top - bottom)
        if pythonMin(top - t, t - bottom) < eps {
            if insufficientProgress || t >= top || t <= bottom {
                t = (t - top).magnitude < (t - bottom).magnitude ? top - eps : bottom + eps
                insufficientProgress = false
            } else {
                insufficientProgress = true
            }
        } else {
            insufficientProgress = false
        }
        (fNew, gNew) = try evaluate(t)
        evaluations += 1
        gtdNew = .float(gNew.directional)
        lsIter += 1

        if armijoFails() || fNew >= bracketF[low] {
            (bracket[high], bracketF[high], bracketG[high], bracketGtd[high]) = (t, fNew, gNew, gtdNew)
            (low, high) = bracketF[0] <= bracketF[1] ? (0, 1) : (1, 0)
        } else {
            if gtdNew.magnitude <= -c2 * gtd {
                done = true
            } else if gtdNew * (bracket[high] - bracket[low]) >= 0 {
                // the old high becomes the new low
                (bracket[high], bracketF[high], bracketG[high], bracketGtd[high])
                    = (bracket[low], bracketF[low], bracketG[low], bracketGtd[low])
            }
            (bracket[low], bracketF[low], bracketG[low], bracketGtd[low]) = (t, fNew, gNew, gtdNew)
        }
    }
    return (bracketF[low], bracketG[low], bracket[low], evaluations)
}

/// torch's `_cubic_interpolate`: the minimizer of the cubic through two points with
/// their values and slopes, clamped to `bounds` (else the points' interval); the
/// middle when the cubic has none.
func cubicInterpolate(_ x1: TorchScalar, _ f1: Double, _ g1: TorchScalar,
                      _ x2: TorchScalar, _ f2: Double, _ g2: TorchScalar,
                      bounds: (TorchScalar, TorchScalar)? = nil) -> TorchScalar {
    let (xminBound, xmaxBound) = bounds ?? (x1 <= x2 ? (x1, x2) : (x2, x1))
    let d1 = g1 + g2 - .double(3 * (f1 - f2)) / (x1 - x2)
    let d2Square = d1 * d1 - g1 * g2
    guard d2Square >= 0 else { return (xminBound + xmaxBound) / 2.0 }
    let d2 = d2Square.squareRoot
    let minPos = x1 <= x2
        ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return pythonMin(pythonMax(minPos, xminBound), xmaxBound)
}
