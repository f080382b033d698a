/// Hyperparameter validation: the algorithm's checks (`AlgorithmDescription.checks`), in
/// torch.optim's order and with its messages, so that an invalid value fails the same
/// way in Descent as in torch.
extension Hyperparameters {
    /// `atConstruction`: these are a new optimizer's defaults, which some of torch's
    /// checks hold to more (see `HyperparameterCheck.positive`).
    public func validate(for algorithm: Algorithm, atConstruction: Bool = false) throws(DescentError) {
        for check in algorithm.description.checks { try check.validate(self, atConstruction: atConstruction) }
    }
}
