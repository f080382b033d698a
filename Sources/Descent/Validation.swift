/// Hyperparameter validation, in torch.optim's order and with its messages, so that an
/// invalid value fails the same way in Descent as in torch. Where torch accepts NaN (it
/// compares with `<`, and NaN compares false), Descent rejects it with the same message:
/// a NaN hyperparameter can only poison the parameters.
extension Hyperparameters {
    public func validate(for algorithm: Algorithm) throws(DescentError) {
        try check(lr, "Invalid learning rate")
        switch algorithm {
        case .sgd:
            try check(momentum, "Invalid momentum value")
            try check(weightDecay, "Invalid weight_decay value")
            try checkNotNaN(dampening, "Invalid dampening value")
            if nesterov && (momentum <= 0 || dampening != 0) {
                throw DescentError(.invalidHyperparameter,
                                   "Nesterov momentum requires a momentum and zero dampening")
            }
        case .adam, .adamW:
            try check(eps, "Invalid epsilon value")
            try checkBeta(beta1, index: 0)
            try checkBeta(beta2, index: 1)
            try check(weightDecay, "Invalid weight_decay value")
        case .rmsprop:
            try check(eps, "Invalid epsilon value")
            try check(momentum, "Invalid momentum value")
            try check(weightDecay, "Invalid weight_decay value")
            try check(alpha, "Invalid alpha value")
        case .adagrad:
            try check(lrDecay, "Invalid lr_decay value")
            try check(weightDecay, "Invalid weight_decay value")
            try check(initialAccumulatorValue, "Invalid initial_accumulator_value value")
            try check(eps, "Invalid epsilon value")
        }
    }

    /// torch's `if not 0.0 <= value: raise ValueError(f"{prefix}: {value}")`.
    private func check(_ value: Double, _ prefix: String) throws(DescentError) {
        guard 0 <= value else { throw invalid(prefix, value) }
    }

    private func checkNotNaN(_ value: Double, _ prefix: String) throws(DescentError) {
        guard !value.isNaN else { throw invalid(prefix, value) }
    }

    private func checkBeta(_ value: Double, index: Int) throws(DescentError) {
        guard 0 <= value && value < 1 else {
            throw invalid("Invalid beta parameter at index \(index)", value)
        }
    }

    private func invalid(_ prefix: String, _ value: Double) -> DescentError {
        DescentError(.invalidHyperparameter, "\(prefix): \(pythonRepr(value))")
    }
}
