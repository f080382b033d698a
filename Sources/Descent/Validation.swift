/// Hyperparameter validation: the algorithm's checks (`AlgorithmDescription.checks`), in
/// torch.optim's order and with its messages, so that an invalid value fails the same
/// way in Descent as in torch.
extension Hyperparameters {
    public func validate(for algorithm: Algorithm) throws(DescentError) {
        for check in algorithm.description.checks { try check.validate(self) }
    }
}
