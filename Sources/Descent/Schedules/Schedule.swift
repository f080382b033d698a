#if canImport(Glibc)
import Glibc
#endif

/// The schedules, with torch.optim.lr_scheduler's class names. Raw values are the stable
/// ids of the C interface and of saved states.
public enum ScheduleKind: Int64, CaseIterable, Sendable {
    case stepLR = 1
    case multiStepLR = 2
    case constantLR = 3
    case linearLR = 4
    case exponentialLR = 5
    case polynomialLR = 6
    case cosineAnnealingLR = 7
    case cosineAnnealingWarmRestarts = 8
    case cyclicLR = 9
    case oneCycleLR = 10
    case reduceLROnPlateau = 11
    case lambdaLR = 12
    case multiplicativeLR = 13
    case sequentialLR = 14
    case chainedScheduler = 15
    case warmupCosineLR = 16

    public var name: String {
        switch self {
        case .stepLR: "StepLR"
        case .multiStepLR: "MultiStepLR"
        case .constantLR: "ConstantLR"
        case .linearLR: "LinearLR"
        case .exponentialLR: "ExponentialLR"
        case .polynomialLR: "PolynomialLR"
        case .cosineAnnealingLR: "CosineAnnealingLR"
        case .cosineAnnealingWarmRestarts: "CosineAnnealingWarmRestarts"
        case .cyclicLR: "CyclicLR"
        case .oneCycleLR: "OneCycleLR"
        case .reduceLROnPlateau: "ReduceLROnPlateau"
        case .lambdaLR: "LambdaLR"
        case .multiplicativeLR: "MultiplicativeLR"
        case .sequentialLR: "SequentialLR"
        case .chainedScheduler: "ChainedScheduler"
        case .warmupCosineLR: "WarmupCosineLR"
        }
    }
}

/// A learning-rate schedule over every group of one optimizer: torch's `LRScheduler`,
/// ported method for method so that lr sequences equal torch's, including its recursive
/// ("chainable") forms that read the group's current lr.
///
/// Subclasses override `computeLR()` (torch's `get_lr`) and, where torch has one,
/// `closedFormLR()`; `code(_:)` lists their saved fields. Creating a schedule sets the
/// initial lr (torch's initial step); every public call is all-or-nothing: if it throws,
/// the optimizer's hyperparameters and the schedule's state are as before.
public class Schedule {
    public let kind: ScheduleKind
    public let optimizer: Optimizer
    /// torch's `last_epoch`: the number of steps taken, 0 after creation.
    public internal(set) var lastEpoch: Int64 = -1
    /// torch's `get_last_lr()`: the lr of every group after the last step.
    public internal(set) var lastLR: [Double] = []
    /// The composite (SequentialLR, ChainedScheduler) this schedule belongs to, if any.
    public internal(set) weak var owner: Schedule?
    var baseLRs: [Double] = []
    var stepCount: Int64 = 0
    var isInitial = false
    /// Groups the schedule was created for; it refuses to run on a different number.
    let groupCount: Int

    init(_ kind: ScheduleKind, _ optimizer: Optimizer) {
        self.kind = kind
        self.optimizer = optimizer
        groupCount = optimizer.groupCount
        optimizer.attach(self)
    }

    /// The kind and, for composites, the children's kinds: "SequentialLR(LinearLR,
    /// StepLR)". A checkpoint's schedules must match the optimizer's by this.
    var treeDescription: String { kind.name }

    // MARK: Public calls

    /// Advances the schedule by one step. `metric` is what ReduceLROnPlateau (alone or
    /// inside a composite) compares; other schedules ignore it.
    public func step(metric: Double? = nil) throws(DescentError) {
        if let owner {
            throw DescentError(.invalidState, "this \(kind.name) belongs to a \(owner.kind.name); step that one")
        }
        try checkGroups()
        if let metric, metric.isNaN {
            throw DescentError(.invalidArgument, "metric is nan")
        }
        if metric == nil && needsMetric {
            throw DescentError(.invalidState, kind == .reduceLROnPlateau
                ? "ReduceLROnPlateau needs a metric: step it with one"
                : "this \(kind.name) contains a ReduceLROnPlateau: step it with a metric")
        }
        try atomically([self]) { () throws(DescentError) in try advance(metric: metric) }
    }

    /// The schedule's state (configuration and progress) as bytes; see `StateCoder`.
    public func saveState() -> [UInt8] {
        var coder = StateCoder()
        try? codeTree(&coder)
        return coder.finished
    }

    /// Restores a state from `saveState()` of a schedule of the same kind and shape,
    /// and sets the groups' lrs to its last lrs, so that a resumed run continues on the
    /// same lr sequence. Validated completely before anything changes.
    public func loadState(_ bytes: [UInt8]) throws(DescentError) {
        try checkGroups()
        try atomically([self]) { () throws(DescentError) in
            var coder = try StateCoder(reading: bytes)
            try codeTree(&coder)
            try coder.finish()
            try validateTree()
            try writeLastLRs()
        }
    }

    /// Whether steps need a metric (a ReduceLROnPlateau, or a composite holding one).
    public var needsMetric: Bool { false }

    // MARK: torch's skeleton

    /// torch's `get_lr`.
    func computeLR() throws(DescentError) -> [Double] { lrs() }

    /// torch's `_get_closed_form_lr`, for the schedules that have one.
    func closedFormLR() -> [Double]? { nil }

    /// Sets up the schedule on its optimizer and takes torch's initial step; undone if it
    /// throws. Subclasses that do more at creation override `prepare`.
    func start() throws(DescentError) {
        try atomically([]) { () throws(DescentError) in
            try prepare()
            for g in 0..<groupCount where optimizer.initialLRs[g] == nil {
                optimizer.initialLRs[g] = optimizer.groups[g][.lr]
            }
            baseLRs = (0..<groupCount).map { optimizer.initialLRs[$0] ?? optimizer.groups[$0][.lr] }
            try initialStep()
            try afterInitialStep()
        }
    }

    /// Changes a schedule makes to the groups before torch's base-class init runs.
    func prepare() throws(DescentError) {}

    func afterInitialStep() throws(DescentError) {}

    /// torch's `_initial_step`.
    func initialStep() throws(DescentError) {
        stepCount = 0
        isInitial = true
        defer { isInitial = false }
        try advance(metric: nil)
    }

    /// torch's `step()` without the epoch argument.
    func advance(metric: Double?) throws(DescentError) {
        stepCount += 1
        try updateLR(epoch: nil)
    }

    /// torch's `_update_lr`: with an epoch, jumps there through the closed form if any.
    func updateLR(epoch: Int64?) throws(DescentError) {
        let values: [Double]
        if let epoch {
            lastEpoch = epoch
            if let closed = closedFormLR() { values = closed } else { values = try computeLR() }
        } else {
            lastEpoch += 1
            values = try computeLR()
        }
        try setLRs(values)
        lastLR = lrs()
    }

    /// torch's `recursive_undo` step for one schedule (SequentialLR's constructor).
    func undoEpoch() { lastEpoch -= 1 }

    // MARK: Group access

    /// The current lr of every group.
    func lrs() -> [Double] { optimizer.groups.map { $0[.lr] } }

    func setLRs(_ values: [Double]) throws(DescentError) {
        for (g, lr) in values.enumerated() {
            try optimizer.set(.lr, to: lr, inGroup: g)
        }
    }

    func writeLastLRs() throws(DescentError) { try setLRs(lastLR) }

    func checkGroups() throws(DescentError) {
        guard optimizer.groupCount == groupCount else {
            throw DescentError(.invalidState, "\(kind.name) was created for \(groupCount) param groups, the optimizer now has \(optimizer.groupCount)")
        }
    }

    // MARK: Saved state

    /// Lists the saved fields, in order; subclasses call super first.
    func code(_ coder: inout StateCoder) throws(DescentError) {
        try coder.code(&lastEpoch)
        try coder.code(&stepCount)
        try coder.code(&baseLRs)
        try coder.code(&lastLR)
    }

    /// This schedule's kind and fields, then its children's (composites).
    func codeTree(_ coder: inout StateCoder) throws(DescentError) {
        var id = kind.rawValue
        try coder.code(&id)
        if coder.isReading, id != kind.rawValue {
            let other = ScheduleKind(rawValue: id)?.name ?? "unknown schedule kind \(id)"
            throw DescentError(.invalidArgument, "schedule state is for \(other), this schedule is a \(kind.name)")
        }
        try code(&coder)
    }

    /// Checks a loaded configuration and state as creation checks arguments.
    func validateTree() throws(DescentError) {
        for (name, values) in [("base_lrs", baseLRs), ("last_lr", lastLR)] where values.count != groupCount {
            throw DescentError(.invalidArgument, "schedule state has \(values.count) \(name) for \(groupCount) param groups")
        }
        guard (-1...maxSteps).contains(lastEpoch), (0...maxSteps).contains(stepCount) else {
            throw DescentError(.invalidArgument, "schedule state has last_epoch \(lastEpoch) and step count \(stepCount) out of range")
        }
        // An optimizer takes no other lr: a state holding one would fail every later step.
        for (name, values) in [("base_lrs", baseLRs), ("last_lr", lastLR)] {
            for (g, lr) in values.enumerated() where !(lr.isFinite && lr >= 0) {
                throw DescentError(.invalidArgument, "schedule state has \(name)[\(g)] = \(pythonRepr(lr)); an lr must be finite and >= 0")
            }
        }
        try validate()
    }

    /// The creation-time checks of the schedule's parameters.
    func validate() throws(DescentError) {}

    /// Runs `body`; if it throws, puts back the optimizer's hyperparameters and the saved
    /// state of `schedules` as they were.
    func atomically(_ schedules: [Schedule], _ body: () throws(DescentError) -> Void) throws(DescentError) {
        try optimizer.transaction(restoring: schedules, body)
    }
}

/// A schedule an optimizer lists without keeping it alive.
struct WeakSchedule {
    weak var schedule: Schedule?
}

/// Python's `%` for a positive divisor (floor modulo).
func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    let r = a % b
    return r < 0 ? r + b : r
}

/// Python's `//` for a positive divisor (floor division).
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    (a - floorMod(a, b)) / b
}

/// Python's float division, which raises on a zero divisor where IEEE gives inf or nan.
func divide(_ a: Double, _ b: Double) throws(DescentError) -> Double {
    guard b != 0 else { throw DescentError(.invalidState, "float division by zero") }
    return a / b
}

/// The largest step count or period a schedule takes: every one is then exact as a
/// Double, and no sum or product of two of them overflows.
let maxSteps: Int64 = 1 << 53

/// The message torch's validators use for a value that must be a positive integer.
func requirePositive(_ value: Int64, _ name: String) throws(DescentError) {
    guard value > 0 else {
        throw DescentError(.invalidHyperparameter, "Expected positive integer \(name), but got \(value)")
    }
    try requireAtMostMaxSteps(value, name)
}

func requireNonNegative(_ value: Int64, _ name: String) throws(DescentError) {
    guard value >= 0 else {
        throw DescentError(.invalidHyperparameter, "Expected non-negative integer \(name), but got \(value)")
    }
    try requireAtMostMaxSteps(value, name)
}

func requireAtMostMaxSteps(_ value: Int64, _ name: String) throws(DescentError) {
    guard value <= maxSteps else {
        throw DescentError(.invalidHyperparameter, "Expected \(name) <= 2**53, but got \(value)")
    }
}

func requireFinite(_ value: Double, _ name: String) throws(DescentError) {
    guard value.isFinite else {
        throw DescentError(.invalidHyperparameter, "Expected finite \(name), but got \(pythonRepr(value))")
    }
}

/// A value the schedule sets as an lr: finite and >= 0, as every optimizer requires (torch
/// takes a negative eta_min, and its optimizer then fails at the step that reaches it).
func requireLR(_ value: Double, _ name: String) throws(DescentError) {
    try requireFinite(value, name)
    guard value >= 0 else {
        throw DescentError(.invalidHyperparameter, "Expected non-negative \(name), but got \(pythonRepr(value)) (an lr must be >= 0)")
    }
}
