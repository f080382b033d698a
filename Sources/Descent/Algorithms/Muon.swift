extension AlgorithmDescription {
    static let muon = AlgorithmDescription(
        algorithm: .muon, torchName: "Muon",
        hyperparameters: [.init(.lr, 1e-3), .init(.weightDecay, 0.1), .init(.momentum, 0.95), .init(.nesterov, 1),
                          .init(.nsCoefficientA, 3.4445), .init(.nsCoefficientB, -4.7750),
                          .init(.nsCoefficientC, 2.0315), .init(.eps, 1e-7), .init(.nsSteps, 5),
                          .init(.adjustLRFn, 0)],
        checks: [.nonNegative(.lr, prefix: "Learning rate should be >= 0 but is"),
                 .nonNegative(.momentum, prefix: "momentum should be >= 0 but is"),
                 .nonNegative(.weightDecay, prefix: "weight decay should be >= 0 but is"),
                 .notNaN(.nsCoefficientA, prefix: "Invalid ns_coefficients[0] value"),
                 .notNaN(.nsCoefficientB, prefix: "Invalid ns_coefficients[1] value"),
                 .notNaN(.nsCoefficientC, prefix: "Invalid ns_coefficients[2] value"),
                 .notNaN(.eps, prefix: "Invalid eps value"),
                 // torch raises this at the step; Descent when the value is given.
                 .count(.nsSteps, minimum: 0),
                 .below(.nsSteps, 100, message: "Number of steps must be less than 100 for computational efficiency")],
        state: [StateSlot("momentum_buffer")],
        traits: [.decoupledWeightDecay, .onlyMatrices], cycledMomentum: .momentum,
        reference: "torch's single-tensor path, torch/optim/_muon.py (torch has no other), its products through oneDNN",
        runPhase: { (opt, gradients, options) throws(DescentError) in try opt.muonPhase(gradients, options) })
}

/// torch's `adjust_lr_fn`: the factor on lr for an A × B matrix (`_adjust_lr`), by its
/// index among the option's choices (0 is None, which is "original").
enum MuonLRAdjustment: Int, CaseIterable {
    case original = 1
    case matchRMSAdamW = 2
    case spectralUnclamped = 3

    var torchName: String {
        switch self {
        case .original: "original"
        case .matchRMSAdamW: "match_rms_adamw"
        case .spectralUnclamped: "spectral_unclamped"
        }
    }

    init(_ hp: Hyperparameters) {
        self = MuonLRAdjustment(rawValue: Int(hp[.adjustLRFn])) ?? .original
    }

    /// torch's adjusted lr, in Python floats (double).
    func adjustedLR(_ lr: Double, rows: Int, columns: Int) -> Double {
        let (a, b) = (Double(rows), Double(columns))
        return switch self {
        case .original: lr * max(1, a / b).squareRoot()
        case .matchRMSAdamW: lr * (0.2 * max(a, b).squareRoot())
        case .spectralUnclamped: lr * (a / b).squareRoot()
        }
    }
}
