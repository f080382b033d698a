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
        state: [StateSlot("sum", initialValue: .option(.initialAccumulatorValue))],
        traits: [.stateAtRegistration, .keepsStepCount], cycledMomentum: nil,
        reference: "torch's fused CPU kernel, aten/src/ATen/native/cpu/FusedAdagradKernel.cpp",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.phase(gradients, options, rule: AdagradRule.self) },
        sparseGradients: .rows(AdagradRule.self))
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

/// torch's sparse path (`_single_tensor_adagrad`, `grad.is_sparse`), per element of the
/// rows present: sum = sum + g·g (g² rounded first, not one fma), std = sqrt(sum) + eps,
/// p = fma(g/std, −clr, p). Weight decay is refused, with torch's message.
extension AdagradRule: SparseRowRule {
    static func checkSparse(_ hp: Hyperparameters) throws(DescentError) {
        try sparseIncompatible(.weightDecay, hp)
    }

    static func updateRows(_ s: Scalars, _ gradient: SparseRows, param: UnsafeMutablePointer<Float>,
                           slots: [UnsafeMutablePointer<Float>?]) {
        let sum = slots[0]!, size = gradient.rowSize
        for (i, row) in gradient.rows.enumerated() {
            let g = gradient.values + i * size, p = param + row * size, s2 = sum + row * size
            for k in 0..<size {
                let grad = s.maximize ? -g[k] : g[k]
                let acc = s2[k] + grad * grad
                s2[k] = acc
                p[k] = p[k].addingProduct(grad / (acc.squareRoot() + s.eps), s.negClr)
            }
        }
    }
}
