/// torch's `LBFGS.step(closure)` (torch/optim/lbfgs.py), statement for statement: the
/// same scalar types (a Python float or a float32 tensor, `TorchScalar`), the same
/// comparisons and the same float32 vector arithmetic, so that iterates follow torch's.
/// Where Descent differs: dot products and sums are taken in double and rounded once,
/// and bad options (history_size 0, a fractional max_iter) are refused when set, where
/// torch fails inside a step.
///
/// Each iteration is all or nothing: when the closure fails, the parameters and the
/// state are put back as they were after the last iteration that completed (before the
/// step, if none did, but for `func_evals`, which counts the step's first evaluation as
/// torch does), and the error is thrown.
extension Optimizer {
    func lbfgsStep(_ closure: () throws(DescentError) -> Double) throws(DescentError) -> Double {
        guard !parameters.isEmpty else { return try closure() }
        let settings = LBFGSSettings(groups[0])
        let storage = lbfgs
        let layout = FlatLayout(parameters)
        if let d = storage.state.d, d.count != layout.count {
            throw DescentError(.invalidState, "LBFGS's vectors hold \(d.count) elements but its parameters now have \(layout.count): parameters cannot be added after its first step")
        }
        let passes = FlatPasses(layout, maximize: settings.maximize)
        func evaluate() throws(DescentError) -> Double {
            let loss = try closure()
            return settings.maximize ? -loss : loss
        }
        func gather(against d: FlatVector? = nil) throws(DescentError) -> FlatGradient {
            passes.gather(into: try storage.vector(layout.count), against: d)
        }

        var state = storage.state
        let origLoss = try closure()
        var loss = settings.maximize ? -origLoss : origLoss
        var currentEvals = 1
        state.funcEvals += 1
        storage.state.funcEvals = state.funcEvals
        var flatGrad = try gather()
        var optCond = flatGrad.absMax <= Float(settings.toleranceGrad)
        if optCond { return origLoss }

        var nIter = 0
        // The state before the iteration that ended the loop by `break` (its vectors
        // that the state no longer holds are kept for the next step).
        var unrecycled: LBFGSState?
        while nIter < settings.maxIter {
            // What a failing closure puts back: the state after the last iteration.
            let committed = state
            unrecycled = committed
            // The parameters before this iteration moves them, when it does.
            var origin: FlatVector?
            do throws(DescentError) {
                nIter += 1
                state.nIter += 1
                let d: FlatVector
                var gtd: Float
                if state.nIter == 1 {
                    // d = −g, and gtd = g·d in the same pass.
                    d = try storage.vector(layout.count)
                    gtd = passes.combine(d, negating: flatGrad.vector, dot: flatGrad.vector)
                    state.oldDirs = []
                    state.oldStps = []
                    state.ro = []
                    state.hDiag = 1
                } else {
                    (d, gtd) = try direction(&state, flatGrad.vector, passes, storage, settings.historySize)
                }
                state.d = d
                state.prevFlatGrad = flatGrad.vector
                state.prevLoss = loss

                let t: TorchScalar = state.nIter == 1
                    ? pythonMin(1.0, .float(1 / Float(flatGrad.absSum))) * .double(settings.lr)
                    : .double(settings.lr)
                state.t = t
                if gtd > Float(-settings.toleranceChange) { break }

                var lsFuncEvals = 0
                if settings.strongWolfe {
                    let x = try storage.vector(layout.count)
                    origin = x
                    passes.copyParameters(into: x)
                    let search = try strongWolfe(
                        evaluate: { (step) throws(DescentError) in
                            passes.addGrad(step.float, d, from: x)
                            let f = try evaluate()
                            return (f, try gather(against: d))
                        },
                        t: t, d: d, dNorm: passes.absMax(d), f: loss, g: flatGrad, gtd: .float(gtd),
                        toleranceChange: settings.toleranceChange,
                        // torch fails below 0 (max_eval 0 with the line search): one evaluation.
                        maxLS: max(0, settings.maxEval - currentEvals))
                    (loss, flatGrad, lsFuncEvals) = (search.f, search.g, search.evaluations)
                    state.t = search.t
                    passes.addGrad(search.t.float, d, from: x)
                    optCond = flatGrad.absMax <= Float(settings.toleranceGrad)
                } else if nIter != settings.maxIter {
                    let x = try storage.vector(layout.count)
                    origin = x
                    passes.addGrad(t.float, d, backup: x)
                    // Re-evaluated except in the last iteration, as torch does.
                    loss = try evaluate()
                    flatGrad = try gather()
                    optCond = flatGrad.absMax <= Float(settings.toleranceGrad)
                    lsFuncEvals = 1
                } else {
                    passes.addGrad(t.float, d)
                }
                currentEvals += lsFuncEvals
                state.funcEvals += lsFuncEvals
            } catch {
                if let origin { passes.setParameters(from: origin) }
                storage.state = committed
                throw error
            }
            storage.recycle(committed, keeping: state, alsoIn: [flatGrad.vector] + (origin.map { [$0] } ?? []))
            if let origin { storage.keep([origin]) }
            storage.state = state
            unrecycled = nil

            if nIter == settings.maxIter { break }
            if currentEvals >= settings.maxEval { break }
            if optCond { break }
            if let d = state.d, let t = state.t, passes.scaledAbsMax(d, t.float) <= Float(settings.toleranceChange) { break }
            if abs(loss - (state.prevLoss ?? loss)) < settings.toleranceChange { break }
        }
        if let unrecycled { storage.recycle(unrecycled, keeping: state, alsoIn: [flatGrad.vector]) }
        storage.state = state
        return origLoss
    }

    /// The new direction `d = −H·g` by the two-loop recursion, after adding the newest
    /// curvature pair to the history when y·s > 1e-10; returns it with g·d.
    private func direction(_ state: inout LBFGSState, _ g: FlatVector, _ passes: FlatPasses,
                           _ storage: LBFGSStorage, _ historySize: Int) throws(DescentError) -> (FlatVector, Float) {
        guard let previous = state.prevFlatGrad, let lastD = state.d, let lastT = state.t else {
            throw DescentError(.invalidState, "LBFGS's state counts \(state.nIter - 1) iterations but lacks d, t or prev_flat_grad")
        }
        let count = passes.layout.count
        let y = try storage.vector(count), s = try storage.vector(count)
        let (ys, yy, sg) = passes.historyPair(g, previous, lastD, lastT.float, y: y, s: s)
        var newestDotG: Float?
        if ys > Float(1e-10) {
            // torch pops one entry when the history is full; a history_size lowered
            // since (torch would fail on its `al`) drops the surplus too.
            while state.oldDirs.count >= historySize {
                state.oldDirs.removeFirst()
                state.oldStps.removeFirst()
                state.ro.removeFirst()
            }
            state.oldDirs.append(y)
            state.oldStps.append(s)
            state.ro.append(1 / ys)
            state.hDiag = .float(ys / yy)
            newestDotG = sg
        } else {
            storage.keep([y, s])
        }
        let numOld = state.oldDirs.count
        let hDiag = (state.hDiag ?? 1).float
        var al = state.al ?? Array(repeating: nil, count: historySize)
        if al.count < numOld { al += Array(repeating: nil, count: numOld - al.count) }
        state.al = al  // torch makes state["al"] on every iteration after the first
        let q = try storage.vector(count)
        guard numOld > 0 else {
            // d = (−g)·H_diag, and g·d.
            return (q, passes.combine(q, negating: g, scale: hDiag, dot: g))
        }
        // q = −g; al[i] = s_i·q · ro_i and q += −al[i]·y_i, newest first. Each pass
        // updates q and takes the next dot product with the updated q; the first reads
        // −g in place of q (s·(−g) is −(s·g), which the history pass took when it made
        // the newest pair), the last also scales q by H_diag (d) and takes y_0·d.
        var next = -(newestDotG ?? passes.dot(state.oldStps[numOld - 1], g))
        for i in stride(from: numOld - 1, through: 0, by: -1) {
            let a = next * state.ro[i]
            al[i] = a
            next = passes.combine(q, negating: i == numOld - 1 ? g : nil, -a, state.oldDirs[i],
                                  scale: i == 0 ? hDiag : 1, dot: i > 0 ? state.oldStps[i - 1] : state.oldDirs[0])
        }
        // be_i = y_i·d · ro_i and d += (al[i] − be_i)·s_i, oldest first; the last pass
        // takes g·d.
        for i in 0 ..< numOld {
            let be = next * state.ro[i]
            next = passes.combine(q, (al[i] ?? 0) - be, state.oldStps[i], dot: i + 1 < numOld ? state.oldDirs[i + 1] : g)
        }
        state.al = al
        return (q, next)
    }
}
