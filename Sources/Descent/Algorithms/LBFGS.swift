extension AlgorithmDescription {
    static let lbfgs = AlgorithmDescription(
        algorithm: .lbfgs, torchName: "LBFGS",
        // max_eval −1 stands for torch's None: max_iter * 5 // 4 (`resolvingNone`).
        hyperparameters: [.init(.lr, 1), .init(.maxIter, 20), .init(.maxEval, -1), .init(.toleranceGrad, 1e-7),
                          .init(.toleranceChange, 1e-9), .init(.historySize, 100), .init(.lineSearchFn, 0),
                          .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .count(.maxIter, minimum: 1), .count(.maxEval, minimum: -1), .count(.historySize, minimum: 1),
                 .notNaN(.toleranceGrad, prefix: "Invalid tolerance_grad value"),
                 .notNaN(.toleranceChange, prefix: "Invalid tolerance_change value")],
        state: [], traits: [.needsClosure, .singleGroup], cycledMomentum: nil,
        reference: "torch/optim/lbfgs.py",
        runPhase: { (_, _, _) throws(DescentError) in
            throw DescentError(.unsupported, "LBFGS re-evaluates the loss within a step: step it with a closure (descent_step_closure)")
        },
        resolvingNone: { hp in
            // torch's constructor: `if max_eval is None: max_eval = max_iter * 5 // 4`.
            var hp = hp
            if hp[.maxEval] < 0 { hp[.maxEval] = (hp[.maxIter] * 5 / 4).rounded(.down) }
            return hp
        })
}
