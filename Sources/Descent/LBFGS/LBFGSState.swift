/// L-BFGS's state, torch's `state[first param]` (lbfgs.py keeps it all under the first
/// parameter): the counters, the last direction and step length, the curvature history
/// and the previous gradient and loss. Vectors are shared references that no pass
/// writes after they are made (a new vector is made for each new value), so a copy of
/// this struct is a snapshot: a step restores one when its closure fails.
struct LBFGSState {
    var funcEvals = 0
    var nIter = 0
    var d: FlatVector?
    var t: TorchScalar?
    /// The history, oldest first: y (gradient change), s (step) and 1/(y·s).
    var oldDirs: [FlatVector] = []
    var oldStps: [FlatVector] = []
    var ro: [Float] = []
    /// torch's int 1 until the first curvature pair, then a float32 tensor.
    var hDiag: TorchScalar?
    var prevFlatGrad: FlatVector?
    var prevLoss: Double?
    /// The two-loop recursion's coefficients (torch keeps them: `state["al"]`), made
    /// with `history_size` entries on the first iteration that has a history.
    var al: [Float?]?

    var vectors: [FlatVector] {
        [d, prevFlatGrad].compactMap { $0 } + oldDirs + oldStps
    }
}

/// What an optimizer keeps for L-BFGS between steps: the state, and vectors that a step
/// no longer needs, kept for the next instead of freed and faulted in again.
final class LBFGSStorage {
    var state = LBFGSState()
    var spare: [FlatVector] = []
    static let maxSpare = 4

    /// A vector of `count` floats, spare or new.
    func vector(_ count: Int) throws(DescentError) -> FlatVector {
        while let last = spare.popLast() {
            if last.count == count { return last }
        }
        return try FlatVector(count: count)
    }

    /// Keeps the vectors of `old` that `new` no longer holds, up to `maxSpare`.
    func recycle(_ old: LBFGSState, keeping new: LBFGSState, alsoIn live: [FlatVector] = []) {
        let kept = Set((new.vectors + live + spare).map(ObjectIdentifier.init))
        keep(old.vectors.filter { !kept.contains(ObjectIdentifier($0)) })
    }

    /// Keeps `vectors`, which nothing else holds, up to `maxSpare` in all.
    func keep(_ vectors: [FlatVector]) {
        spare += vectors.prefix(max(0, Self.maxSpare - spare.count))
    }
}

/// A gradient gathered into one flat vector, with what the step reads of it.
struct FlatGradient {
    let vector: FlatVector
    /// `flat_grad.abs().max()` (NaN if an element is NaN).
    let absMax: Float
    /// `flat_grad.abs().sum()`, in double.
    let absSum: Double
    /// `flat_grad.dot(d)` for the direction it was gathered against (the line search's).
    let directional: Float
}

/// torch's LBFGS options of a group.
struct LBFGSSettings {
    let lr: Double
    let maxIter: Int
    let maxEval: Int
    let toleranceGrad: Double
    let toleranceChange: Double
    let historySize: Int
    let strongWolfe: Bool
    let maximize: Bool

    init(_ hp: Hyperparameters) {
        lr = hp[.lr]
        maxIter = Int(hp[.maxIter])
        maxEval = Int(hp[.maxEval])  // torch's None resolved when set (`resolvingNone`)
        toleranceGrad = hp[.toleranceGrad]
        toleranceChange = hp[.toleranceChange]
        historySize = Int(hp[.historySize])
        strongWolfe = hp.isSet(.lineSearchFn)
        maximize = hp.isSet(.maximize)
    }
}
