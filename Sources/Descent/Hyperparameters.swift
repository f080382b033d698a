/// The hyperparameters of one parameter group. One struct serves every algorithm (as in
/// the C interface); each algorithm reads only the fields listed in `Algorithm.options`.
public struct Hyperparameters: Equatable, Sendable {
    public var lr = 0.0
    public var momentum = 0.0
    public var dampening = 0.0
    public var weightDecay = 0.0
    public var beta1 = 0.0
    public var beta2 = 0.0
    public var eps = 0.0
    public var alpha = 0.0
    public var lrDecay = 0.0
    public var initialAccumulatorValue = 0.0
    public var momentumDecay = 0.0
    public var nesterov = false
    public var maximize = false
    public var amsgrad = false
    public var centered = false
    public var decoupledWeightDecay = false

    public init() {}

    /// torch.optim's constructor defaults (torch 2.15).
    public static func defaults(for algorithm: Algorithm) -> Hyperparameters {
        algorithm.description.defaults
    }
}

/// One hyperparameter, addressable by id (the C interface's `descent_option`).
public enum Option: Int32, CaseIterable, Sendable {
    case lr = 1
    case momentum = 2
    case dampening = 3
    case weightDecay = 4
    case nesterov = 5
    case maximize = 6
    case beta1 = 7
    case beta2 = 8
    case eps = 9
    case amsgrad = 10
    case alpha = 11
    case centered = 12
    case lrDecay = 13
    case initialAccumulatorValue = 14
    case momentumDecay = 15
    case decoupledWeightDecay = 16

    /// torch's name for it.
    public var name: String {
        switch self {
        case .lr: "lr"
        case .momentum: "momentum"
        case .dampening: "dampening"
        case .weightDecay: "weight_decay"
        case .nesterov: "nesterov"
        case .maximize: "maximize"
        case .beta1: "betas[0]"
        case .beta2: "betas[1]"
        case .eps: "eps"
        case .amsgrad: "amsgrad"
        case .alpha: "alpha"
        case .centered: "centered"
        case .lrDecay: "lr_decay"
        case .initialAccumulatorValue: "initial_accumulator_value"
        case .momentumDecay: "momentum_decay"
        case .decoupledWeightDecay: "decoupled_weight_decay"
        }
    }

    public var isBoolean: Bool {
        switch self {
        case .nesterov, .maximize, .amsgrad, .centered, .decoupledWeightDecay: true
        default: false
        }
    }

    var keyPath: WritableKeyPath<Hyperparameters, Double>? {
        switch self {
        case .lr: \.lr
        case .momentum: \.momentum
        case .dampening: \.dampening
        case .weightDecay: \.weightDecay
        case .beta1: \.beta1
        case .beta2: \.beta2
        case .eps: \.eps
        case .alpha: \.alpha
        case .lrDecay: \.lrDecay
        case .initialAccumulatorValue: \.initialAccumulatorValue
        case .momentumDecay: \.momentumDecay
        case .nesterov, .maximize, .amsgrad, .centered, .decoupledWeightDecay: nil
        }
    }

    var flagKeyPath: WritableKeyPath<Hyperparameters, Bool>? {
        switch self {
        case .nesterov: \.nesterov
        case .maximize: \.maximize
        case .amsgrad: \.amsgrad
        case .centered: \.centered
        case .decoupledWeightDecay: \.decoupledWeightDecay
        default: nil
        }
    }
}

extension Hyperparameters {
    /// The value of `option`; booleans read as 0 or 1.
    public subscript(option: Option) -> Double {
        if let flag = option.flagKeyPath { return self[keyPath: flag] ? 1 : 0 }
        return self[keyPath: option.keyPath!]
    }

    /// A copy with each (option, value) of `values` set, for `algorithm`: every option must
    /// be one of the algorithm's, given once. Not validated as a whole (see `validate`).
    public func setting(_ values: [(Option, Double)], for algorithm: Algorithm) throws(DescentError) -> Hyperparameters {
        var copy = self
        var seen: Set<Option> = []
        for (option, value) in values {
            guard algorithm.options.contains(option) else {
                throw DescentError(.unknownOption, "\(algorithm.name) has no hyperparameter '\(option.name)'")
            }
            guard seen.insert(option).inserted else {
                throw DescentError(.invalidArgument, "hyperparameter '\(option.name)' is given twice")
            }
            copy = try copy.setting(option, to: value)
        }
        return copy
    }

    /// A copy with `option` set to `value`. Booleans accept exactly 0 or 1.
    public func setting(_ option: Option, to value: Double) throws(DescentError) -> Hyperparameters {
        var copy = self
        if let flag = option.flagKeyPath {
            guard value == 0 || value == 1 else {
                throw DescentError(.invalidHyperparameter,
                                   "Invalid \(option.name) value: \(pythonRepr(value)) (expected 0 or 1)")
            }
            copy[keyPath: flag] = value == 1
        } else {
            copy[keyPath: option.keyPath!] = value
        }
        return copy
    }
}
