import KernelInterface

/// The hyperparameters of one parameter group, keyed by option: one struct serves every
/// algorithm (as the C interface's ids do); each algorithm reads only the options its
/// description lists. Stored by id rather than one field per option, so that a new
/// option is one `Option` case and nothing else here.
public struct Hyperparameters: Equatable, Sendable {
    /// Indexed by `Option.rawValue`; flags are 0 or 1.
    private var values = [Double](repeating: 0, count: Hyperparameters.storageCount)
    private static let storageCount = Int(Option.allCases.map(\.rawValue).max()!) + 1

    public init() {}

    /// The value of `option`; a flag reads 0 or 1. The setter does not check (tests and
    /// the engine's own copies); values from callers go through `setting`.
    public subscript(option: Option) -> Double {
        get { values[Int(option.rawValue)] }
        set { values[Int(option.rawValue)] = newValue }
    }

    /// The format of element-wise state that `state_dtype` asks for (the inverse of
    /// `ElementFormat.choice`).
    public var stateFormat: ElementFormat { ElementFormat.stateFormats[Int(self[.stateDtype])] }

    /// Whether the flag `option` is on.
    public func isSet(_ option: Option) -> Bool { self[option] != 0 }

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
    case rho = 17
    case lambd = 18
    case t0 = 19
    case etaMinus = 20
    case etaPlus = 21
    case stepSizeMin = 22
    case stepSizeMax = 23
    case maxIter = 24
    case maxEval = 25
    case toleranceGrad = 26
    case toleranceChange = 27
    case historySize = 28
    case lineSearchFn = 29
    case beta2Decay = 30
    case eps1 = 31
    case eps2 = 32
    case clippingThreshold = 33
    case nsCoefficientA = 34
    case nsCoefficientB = 35
    case nsCoefficientC = 36
    case nsSteps = 37
    case adjustLRFn = 38
    /// Descent's own: the format of element-wise optimizer state (`ElementFormat`, by
    /// the index of its name in `choices`), and the size below which a tensor's state
    /// stays float32 when that is 8-bit (bitsandbytes' `min_8bit_size`).
    case stateDtype = 39
    case min8bitSize = 40
    /// Descent's own: whether the engine keeps a float32 master copy of each bfloat16 or
    /// float16 parameter, updates it, and rewrites the parameter from it (ZeRO-Offload's
    /// pattern); float32 parameters are their own master.
    case masterWeights = 41
    /// Descent's own: rounds bfloat16 state and bfloat16 or float16 parameters
    /// stochastically (up with the probability of the dropped fraction) instead of to
    /// nearest even, so that updates below half a unit in the last place are kept on
    /// average.
    case stochasticRounding = 42

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
        case .rho: "rho"
        case .lambd: "lambd"
        case .t0: "t0"
        case .etaMinus: "etas[0]"
        case .etaPlus: "etas[1]"
        case .stepSizeMin: "step_sizes[0]"
        case .stepSizeMax: "step_sizes[1]"
        case .maxIter: "max_iter"
        case .maxEval: "max_eval"
        case .toleranceGrad: "tolerance_grad"
        case .toleranceChange: "tolerance_change"
        case .historySize: "history_size"
        case .lineSearchFn: "line_search_fn"
        case .beta2Decay: "beta2_decay"
        case .eps1: "eps[0]"
        case .eps2: "eps[1]"
        case .clippingThreshold: "d"
        case .nsCoefficientA: "ns_coefficients[0]"
        case .nsCoefficientB: "ns_coefficients[1]"
        case .nsCoefficientC: "ns_coefficients[2]"
        case .nsSteps: "ns_steps"
        case .adjustLRFn: "adjust_lr_fn"
        case .stateDtype: "state_dtype"
        case .min8bitSize: "min_8bit_size"
        case .masterWeights: "master_weights"
        case .stochasticRounding: "stochastic_rounding"
        }
    }

    /// What values it takes, as torch writes them.
    public enum Kind: Int32, Sendable {
        case real = 0
        /// torch's bool: 0 or 1.
        case flag = 1
        /// A whole number.
        case integer = 2
        /// A whole number or torch's None, which −1 stands for (LBFGS's max_eval).
        case optionalInteger = 3
        /// One of `choices`, by index (0 is torch's None).
        case choice = 4
        /// A float or torch's None, which NaN stands for (Adafactor's eps[0]: a NaN
        /// epsilon would be refused, so no value is lost).
        case optionalReal = 5
    }

    public var kind: Kind {
        switch self {
        case .nesterov, .maximize, .amsgrad, .centered, .decoupledWeightDecay, .masterWeights, .stochasticRounding: .flag
        case .maxIter, .historySize, .nsSteps, .min8bitSize: .integer
        case .maxEval: .optionalInteger
        case .lineSearchFn, .adjustLRFn, .stateDtype: .choice
        case .eps1: .optionalReal
        default: .real
        }
    }

    public var isBoolean: Bool { kind == .flag }

    /// Whether torch.optim has it (the others are Descent's own).
    public var isTorchs: Bool { ![.stateDtype, .min8bitSize, .masterWeights, .stochasticRounding].contains(self) }

    /// torch's values of a `.choice` option, by the number that stands for each
    /// (L-BFGS's `line_search_fn`, Muon's `adjust_lr_fn`: 0 is None; `state_dtype`'s
    /// names of formats); empty for the others.
    public var choices: [String?] {
        switch self {
        case .lineSearchFn: [nil, "strong_wolfe"]
        case .adjustLRFn: [nil] + MuonLRAdjustment.allCases.map(\.torchName)
        case .stateDtype: ElementFormat.stateFormats.map(\.name)  // by `ElementFormat.choice`
        default: []
        }
    }
}

extension ElementFormat {
    /// Its value of `state_dtype`: the index of its name among the choices
    /// (`stateFormats`); nil for a format state is never kept in.
    var choice: Double? { ElementFormat.stateFormats.firstIndex(of: self).map(Double.init) }
}

extension Hyperparameters {
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

    /// A copy with `option` set to `value`. Booleans accept exactly 0 or 1, choices the
    /// index of one.
    public func setting(_ option: Option, to value: Double) throws(DescentError) -> Hyperparameters {
        if option.isBoolean && value != 0 && value != 1 {
            throw DescentError(.invalidHyperparameter,
                               "Invalid \(option.name) value: \(pythonRepr(value)) (expected 0 or 1)")
        }
        if option.kind == .choice, !option.choices.indices.map(Double.init).contains(value) {
            let names = option.choices.map { $0.map { "\"\($0)\"" } ?? "None" }
            throw DescentError(.invalidHyperparameter,
                               "Invalid \(option.name) value: \(pythonRepr(value)) (expected the index of one of \(names.joined(separator: ", ")))")
        }
        var copy = self
        copy[option] = option.isBoolean ? (value == 1 ? 1 : 0) : value
        return copy
    }
}
