import KernelInterface

/// What one algorithm is, as data: its id and torch name, its hyperparameters with
/// torch's defaults and checks, its state slots, and the facts other layers used to test
/// by name. Each is declared next to its update rule (Algorithms/*.swift); defaults,
/// validation, state names and allocation, schedules' momentum cycling and the ABI's
/// names derive from it, so that an algorithm's facts are written once.
public struct AlgorithmDescription: Sendable {
    public let algorithm: Algorithm
    /// torch.optim's class name.
    public let torchName: String
    /// In torch's constructor order, with torch's defaults (then Descent's own: see
    /// `withStateFormats`).
    public private(set) var hyperparameters: [HyperparameterDescription]
    /// In the order torch's constructor checks them (not always the argument order), with
    /// its messages.
    public private(set) var checks: [HyperparameterCheck]
    /// By slot index, in torch's order of state keys.
    public private(set) var state: [StateSlot]
    public let traits: AlgorithmTraits
    /// The option CyclicLR and OneCycleLR cycle as momentum (torch: `momentum`, or
    /// `betas[0]` where there is no momentum); nil where there is none.
    public let cycledMomentum: Option?
    /// The torch code whose arithmetic the update follows, for readers and messages.
    public let reference: String
    /// Runs a step's phase with the algorithm's update rule as a concrete type, so that
    /// the phase, the update and the step plan are specialized for it (through
    /// `any UpdateRule.Type` they ran as generics that looked up type metadata per
    /// parameter).
    let runPhase: @Sendable (Optimizer, [UnsafeMutablePointer<Float>?], StepOptions) throws(DescentError) -> StepReport
    /// Whether and how it takes sparse gradients (torch: SGD, Adagrad, SparseAdam).
    var sparseGradients: SparseGradients = .refused()
    /// Gives options that hold torch's None the value torch's constructor gives them
    /// (LBFGS's max_eval); applied to every group's hyperparameters as they are set.
    var resolvingNone: @Sendable (Hyperparameters) -> Hyperparameters = { $0 }

    public var options: [Option] { hyperparameters.map(\.option) }

    /// The description of an algorithm whose element-wise state may be kept in any of
    /// `ElementFormat.stateFormats` and whose parameters may be in any of
    /// `ElementFormat.parameterFormats`: it takes `state_dtype` (float32 by default),
    /// `min_8bit_size` (4096, bitsandbytes' default), `master_weights` and
    /// `stochastic_rounding` (off) after torch's options, and keeps a last slot, `master_param`, for the master copy of a
    /// low-precision parameter. Its update rule's kernel runs on float32; every kernel
    /// table wraps it for the other formats.
    func withStateFormats() -> AlgorithmDescription {
        var description = self
        description.hyperparameters += [.init(.stateDtype, ElementFormat.float32.choice!), .init(.min8bitSize, 4096),
                                        .init(.masterWeights, 0), .init(.stochasticRounding, 0)]
        description.checks.append(.count(.min8bitSize, minimum: 0))
        description.state.append(StateSlot("master_param", shape: .master, initialValue: .parameter,
                                           needed: .whenSet(.masterWeights)))
        return description
    }

    /// Whether the element-wise state may be kept in other formats than float32.
    public var takesStateFormats: Bool { options.contains(.stateDtype) }

    /// The format the element-wise state of a parameter of `count` elements in a group
    /// with `hp` is kept in: its `state_dtype`, but float32 for 8-bit state of a tensor
    /// under `min_8bit_size` elements (as bitsandbytes keeps it: the absmax would cost
    /// more than 8 bits save, and small tensors are often the sensitive ones).
    func stateFormat(_ hp: Hyperparameters, count: Int) -> ElementFormat {
        guard takesStateFormats else { return .float32 }
        let format = hp.stateFormat
        return format == .int8Blockwise && Double(count) < hp[.min8bitSize] ? .float32 : format
    }

    /// `traits` with the ones that `sparseGradients` implies.
    public var allTraits: AlgorithmTraits {
        switch sparseGradients {
        case .refused: traits
        case .asDense, .rows: traits.union(.sparseGradients)
        case .onlyRows: traits.union([.sparseGradients, .onlySparseGradients])
        }
    }

    /// torch's error for a sparse gradient given to an algorithm that refuses one.
    var sparseRefusal: String? {
        guard case let .refused(message) = sparseGradients else { return nil }
        return message ?? "\(torchName) does not support sparse gradients"
    }
    public var stateNames: [String] { state.map(\.name) }

    /// torch's defaults; options the algorithm does not have are 0 / false.
    public var defaults: Hyperparameters {
        var hp = Hyperparameters()
        for parameter in hyperparameters {
            // Every default is a valid value of its option (a test checks it).
            hp = try! hp.setting(parameter.option, to: parameter.defaultValue)
        }
        return hp
    }

    /// The slots a step with `hp` uses on a parameter (factored: of two or more
    /// dimensions), as a bit mask (bit i = slot i).
    func slotsNeeded(_ hp: Hyperparameters, factored: Bool) -> UInt8 {
        var mask: UInt8 = 0
        for (i, slot) in state.enumerated() where slot.needed.holds(for: hp, factored: factored) { mask |= 1 << i }
        return mask
    }

    /// The value slot `slot` starts with, made for a parameter of a group with `group`'s
    /// hyperparameters in an optimizer created with `defaults`.
    func initialValue(ofSlot slot: Int, defaults: Hyperparameters, group: Hyperparameters) -> Float {
        switch state[slot].initialValue {
        case .zero: 0
        case let .constant(value): value
        case let .option(option): Float(defaults[option])
        case let .groupOption(option): Float(group[option])
        case .parameter: .nan  // copied from the parameter instead (`StateArena.allocate`)
        }
    }
}

/// One hyperparameter of an algorithm.
public struct HyperparameterDescription: Sendable {
    public let option: Option
    public let defaultValue: Double

    public init(_ option: Option, _ defaultValue: Double) {
        self.option = option
        self.defaultValue = defaultValue
    }
}

/// One of torch's constructor checks. NaN fails every check: where torch compares with
/// `<` and lets NaN through, Descent refuses it with the same message, since a NaN
/// hyperparameter can only poison the parameters.
public enum HyperparameterCheck: Sendable {
    /// torch's `if not 0.0 <= value: raise ValueError(f"{prefix}: {value}")`.
    case nonNegative(Option, prefix: String)
    /// torch's `if value is not None and not 0.0 <= value` (Adafactor's eps[0]; NaN is
    /// None, see `Option.Kind.optionalReal`).
    case nonNegativeOrNone(Option, prefix: String)
    /// torch's `if not 0.0 >= value` (Adafactor's beta2_decay).
    case nonPositive(Option, prefix: String)
    /// torch's `if not bound <= value` (Adafactor's clipping threshold d, at least 1).
    case atLeast(Option, Double, prefix: String)
    /// torch's `if not 0.0 < value` (SparseAdam's lr and eps), which torch checks in the
    /// constructor only: a group's value, or a later change, may be 0 (a schedule's warmup
    /// from lr 0), never negative.
    case positive(Option, prefix: String)
    /// Any value but NaN (torch checks nothing; SGD's dampening).
    case notNaN(Option, prefix: String)
    /// torch's `if not 0.0 <= value <= 1.0: raise ValueError(f"{prefix}: {value}")`.
    case unitInterval(Option, prefix: String)
    /// torch's `if not 0.0 <= betas[index] < 1.0`.
    case beta(Option, index: Int)
    /// Rprop's `if not 0.0 < etas[0] < 1.0 < etas[1]`.
    case etas(Option, Option)
    /// SGD's `if nesterov and (momentum <= 0 or dampening != 0)`.
    case nesterovNeedsMomentumWithoutDampening
    /// torch's `if value >= bound: raise ValueError(message)` (Muon's ns_steps).
    case below(Option, Double, message: String)
    /// A whole number in `minimum ... 2**31 - 1` (L-BFGS's counts, which torch does not
    /// check: 0 or a fraction fails later, inside its step).
    case count(Option, minimum: Int)

    func validate(_ hp: Hyperparameters, atConstruction: Bool) throws(DescentError) {
        switch self {
        case let .nonNegative(option, prefix):
            guard 0 <= hp[option] else { throw invalid(prefix, hp[option]) }
        case let .nonNegativeOrNone(option, prefix):
            guard hp[option].isNaN || 0 <= hp[option] else { throw invalid(prefix, hp[option]) }
        case let .nonPositive(option, prefix):
            guard hp[option] <= 0 else { throw invalid(prefix, hp[option]) }
        case let .atLeast(option, bound, prefix):
            guard bound <= hp[option] else { throw invalid(prefix, hp[option]) }
        case let .positive(option, prefix):
            guard atConstruction ? 0 < hp[option] : 0 <= hp[option] else { throw invalid(prefix, hp[option]) }
        case let .notNaN(option, prefix):
            guard !hp[option].isNaN else { throw invalid(prefix, hp[option]) }
        case let .unitInterval(option, prefix):
            guard 0 <= hp[option] && hp[option] <= 1 else { throw invalid(prefix, hp[option]) }
        case let .etas(minus, plus):
            guard 0 < hp[minus] && hp[minus] < 1 && 1 < hp[plus] else {
                throw DescentError(.invalidHyperparameter,
                                   "Invalid eta values: \(pythonRepr(hp[minus])), \(pythonRepr(hp[plus]))")
            }
        case let .beta(option, index):
            guard 0 <= hp[option] && hp[option] < 1 else {
                throw invalid("Invalid beta parameter at index \(index)", hp[option])
            }
        case let .below(option, bound, message):
            guard hp[option] < bound else { throw DescentError(.invalidHyperparameter, message) }
        case let .count(option, minimum):
            let value = hp[option]
            guard value.rounded() == value, Double(minimum) <= value, value <= Double(Int32.max) else {
                throw DescentError(.invalidHyperparameter,
                                   "Invalid \(option.name) value: \(pythonRepr(value)) (a whole number of at least \(minimum))")
            }
        case .nesterovNeedsMomentumWithoutDampening:
            if hp.isSet(.nesterov) && (hp[.momentum] <= 0 || hp[.dampening] != 0) {
                throw DescentError(.invalidHyperparameter, "Nesterov momentum requires a momentum and zero dampening")
            }
        }
    }

    private func invalid(_ prefix: String, _ value: Double) -> DescentError {
        DescentError(.invalidHyperparameter, "\(prefix): \(pythonRepr(value))")
    }
}

/// One state slot: torch's key, its shape and element format, how it starts and when a
/// step needs it. Other formats are the next cases. Raw values are
/// the codes of the C interface and of checkpoints.
public struct StateSlot: Sendable {
    public enum Shape: UInt8, Sendable {
        /// One value per parameter element.
        case elementwise = 1
        /// One value per parameter (NAdam's `mu_product`; torch's 0-d tensor).
        case scalar = 2
        /// One value per row of the last two dimensions (Adafactor's `row_var`): the
        /// parameter's shape with its last dimension 1.
        case rows = 3
        /// One value per column of the last two dimensions (Adafactor's `col_var`): the
        /// parameter's shape with its second-to-last dimension 1.
        case columns = 4
        /// One float32 value per parameter element, whatever the state format: the master
        /// copy of a bfloat16 or float16 parameter (`master_weights`).
        case master = 5

        /// torch's shape of the slot for a parameter of shape `shape`. Only parameters
        /// of two or more dimensions keep `rows` and `columns`; for others (a crafted
        /// checkpoint's sizes) they are taken as one value.
        func dimensions(for shape: [Int]) -> [Int] {
            var dimensions = shape
            switch self {
            case .elementwise, .master: break
            case .scalar: dimensions = []
            case .rows: if shape.count < 2 { dimensions = [] } else { dimensions[shape.count - 1] = 1 }
            case .columns: if shape.count < 2 { dimensions = [] } else { dimensions[shape.count - 2] = 1 }
            }
            return dimensions
        }
    }

    /// The format a slot is declared in: float32. A parameter's element-wise slots are
    /// kept in the format its group's `state_dtype` asks for (`Parameter.stateFormat`).
    public typealias Format = ElementFormat

    /// Which values a slot holds: 8-bit state quantizes a slot of either sign with
    /// bitsandbytes' signed map, one that is never negative with the unsigned map (twice
    /// the resolution).
    public enum Sign: Sendable {
        case any
        case nonNegative
    }

    public enum InitialValue: Sendable {
        case zero
        case constant(Float)
        /// The value of an option in the optimizer's defaults, for every group: torch
        /// fills Adagrad's `sum` from the constructor's initial_accumulator_value, never a
        /// group's own.
        case option(Option)
        /// The value of an option in the parameter's group when the state is made (its
        /// first step): ASGD's `eta` and Rprop's `step_size` start at the group's lr.
        case groupOption(Option)
        /// The parameter's own values, widened to float32 (a master copy).
        case parameter
    }

    /// When a step needs the slot (it is created on the first step that does).
    public enum Need: Sendable {
        case always
        case whenNonZero(Option)
        case whenPositive(Option)
        case whenSet(Option)
        /// For parameters of two or more dimensions (torch's `grad.dim() > 1`), whose
        /// statistics Adafactor factors into rows and columns; `whenNotFactored` for the
        /// others.
        case whenFactored
        case whenNotFactored

        func holds(for hp: Hyperparameters, factored: Bool) -> Bool {
            switch self {
            case .always: true
            case let .whenNonZero(option): hp[option] != 0
            case let .whenPositive(option): hp[option] > 0
            case let .whenSet(option): hp[option] == 1
            case .whenFactored: factored
            case .whenNotFactored: !factored
            }
        }

        /// Whether the condition reads the parameter's shape.
        var readsShape: Bool {
            switch self {
            case .whenFactored, .whenNotFactored: true
            default: false
            }
        }
    }

    public let name: String
    public let shape: Shape
    public let format: Format
    public let sign: Sign
    public let initialValue: InitialValue
    public let needed: Need

    /// The slot's element count for a parameter of shape `shape`.
    func elements(for shape: [Int]) -> Int {
        self.shape.dimensions(for: shape).reduce(1, *)
    }

    /// Whether a parameter of that shape (factored: two or more dimensions) in a group
    /// with `hp` may hold this slot: a slot whose need reads no shape, any parameter may.
    func isKept(by hp: Hyperparameters, factored: Bool) -> Bool {
        !needed.readsShape || needed.holds(for: hp, factored: factored)
    }

    /// The slots of `state` for which `condition` holds, as a bit mask (bit i = slot i).
    static func mask(_ state: [StateSlot], _ condition: (StateSlot) -> Bool) -> UInt8 {
        state.indices.reduce(0) { condition(state[$1]) ? $0 | 1 << $1 : $0 }
    }

    /// Whether the slot's size or existence depends on the parameter's shape, which then
    /// cannot change once the slot exists.
    var dependsOnShape: Bool {
        shape == .rows || shape == .columns || needed.readsShape
    }

    public init(_ name: String, shape: Shape = .elementwise, format: Format = .float32, sign: Sign = .any,
                initialValue: InitialValue = .zero, needed: Need = .always) {
        self.name = name
        self.shape = shape
        self.format = format
        self.sign = sign
        self.initialValue = initialValue
        self.needed = needed
    }
}

/// Facts about an algorithm that other layers act on.
public struct AlgorithmTraits: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// torch makes the state when a parameter is registered, not at its first step
    /// (Adagrad's `sum`).
    public static let stateAtRegistration = AlgorithmTraits(rawValue: 1 << 0)
    /// torch keeps `state["step"]` (all but SGD).
    public static let keepsStepCount = AlgorithmTraits(rawValue: 1 << 1)
    /// weight_decay decays the parameter (AdamW), not the gradient.
    public static let decoupledWeightDecay = AlgorithmTraits(rawValue: 1 << 2)
    /// It takes sparse gradients; only those. Derived from `sparseGradients` (see
    /// `allTraits`), never declared.
    public static let sparseGradients = AlgorithmTraits(rawValue: 1 << 3)
    public static let onlySparseGradients = AlgorithmTraits(rawValue: 1 << 4)
    /// torch keeps `state["step"]` as a Python int (SparseAdam), which it then raises
    /// betas to in double; a float32 tensor would make that float32 arithmetic.
    public static let integerStepCount = AlgorithmTraits(rawValue: 1 << 5)
    /// A step re-evaluates the loss: it needs a closure (L-BFGS).
    public static let needsClosure = AlgorithmTraits(rawValue: 1 << 6)
    /// One parameter group only (torch: "LBFGS doesn't support per-parameter options").
    public static let singleGroup = AlgorithmTraits(rawValue: 1 << 7)
    /// Steps matrices only: every parameter must have a shape of two dimensions (Muon,
    /// whose update orthogonalizes each matrix).
    public static let onlyMatrices = AlgorithmTraits(rawValue: 1 << 8)
}
