/// Hyperparameter validation: the algorithm's checks (`AlgorithmDescription.checks`), in
/// torch.optim's order and with its messages, so that an invalid value fails the same
/// way in Descent as in torch.
extension Hyperparameters {
    /// `atConstruction`: these are a new optimizer's defaults, which some of torch's
    /// checks hold to more (see `HyperparameterCheck.positive`).
    public func validate(for algorithm: Algorithm, atConstruction: Bool = false) throws(DescentError) {
        for check in algorithm.description.checks { try check.validate(self, atConstruction: atConstruction) }
    }

    /// Validated, with torch's None resolved as torch's constructor resolves it.
    func resolved(for algorithm: Algorithm, atConstruction: Bool = false) throws(DescentError) -> Hyperparameters {
        try validate(for: algorithm, atConstruction: atConstruction)
        return algorithm.description.resolvingNone(self)
    }
}
