import KernelsPortable

extension AlgorithmDescription {
    static let adagrad = AlgorithmDescription(
        algorithm: .adagrad, torchName: "Adagrad",
        hyperparameters: [.init(.lr, 1e-2), .init(.lrDecay, 0), .init(.weightDecay, 0),
                          .init(.initialAccumulatorValue, 0), .init(.eps, 1e-10), .init(.maximize, 0)],
        checks: [.nonNegative(.lr, prefix: "Invalid learning rate"),
                 .nonNegative(.lrDecay, prefix: "Invalid lr_decay value"),
                 .nonNegative(.weightDecay, prefix: "Invalid weight_decay value"),
                 .nonNegative(.initialAccumulatorValue, prefix: "Invalid initial_accumulator_value value"),
                 .nonNegative(.eps, prefix: "Invalid epsilon value")],
        state: [StateSlot("sum", sign: .nonNegative, initialValue: .option(.initialAccumulatorValue))],
        traits: [.stateAtRegistration, .keepsStepCount], cycledMomentum: nil,
        reference: "torch's fused CPU kernel, aten/src/ATen/native/cpu/FusedAdagradKernel.cpp",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: AdagradRule.self) },
        sparseGradients: .rows(AdagradRowsRule.self)).withStateFormats()
}

/// Adagrad with lr decay and L2 weight decay, in the arithmetic of its description's
/// `reference`.
enum AdagradRule: UpdateRule {
    typealias Scalars = AdagradScalars

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let clr = hp[.lr] / (1 + (Double(step) - 1) * hp[.lrDecay])
        return Scalars(negClr: Float(-clr), eps: Float(hp[.eps]),
                       weightDecay: Float(hp[.weightDecay]), maximize: hp.isSet(.maximize))
    }
}

/// Adagrad's sparse path (torch's `_single_tensor_adagrad` when `grad.is_sparse`; its
/// kernel: Kernels.swift): the rows present only, weight decay refused with torch's
/// message, clr as the dense path computes it.
enum AdagradRowsRule: SparseRowRule {
    typealias Scalars = AdagradRowsScalars

    static func checkSparse(_ hp: Hyperparameters) throws(DescentError) {
        try sparseIncompatible(.weightDecay, hp)
    }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars {
        let dense = AdagradRule.scalars(hp, step: step, algorithm: algorithm, state: state)
        return Scalars(negClr: dense.negClr, eps: dense.eps, maximize: dense.maximize)
    }
}
