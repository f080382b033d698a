#if canImport(Glibc)
import Glibc
#endif

// Schedules that cycle the lr and, inversely, the momentum (SGD's and RMSprop's
// `momentum`, Adam's and AdamW's `betas[0]`): torch's CyclicLR and OneCycleLR.

/// A value given once for every group or once per group, as torch accepts a float or a
/// list. Returns one value per group.
func perGroup(_ values: [Double], _ name: String, groups: Int) throws(DescentError) -> [Double] {
    if values.count == 1 { return Array(repeating: values[0], count: groups) }
    guard values.count == groups else {
        throw DescentError(.invalidHyperparameter, "\(name) must have the same length as optimizer.param_groups. \(name) has \(values.count) values, param_groups has \(groups).")
    }
    return values
}

extension Schedule {
    /// The option a schedule cycles as momentum.
    func momentumOption() throws(DescentError) -> Option {
        guard let option = optimizer.algorithm.description.cycledMomentum else {
            throw DescentError(.invalidHyperparameter, "optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
        }
        return option
    }

    func setMomentums(_ values: [Double]) throws(DescentError) {
        let option = try momentumOption()
        for (g, value) in values.enumerated() {
            try optimizer.set(option, to: value, inGroup: g)
        }
    }
}

/// What CyclicLR and OneCycleLR share: a momentum (or beta1) cycled against the lr,
/// per group, whose last value is saved and restored with the lrs.
public class MomentumCyclingSchedule: Schedule {
    var cycleMomentum: Bool
    var baseMomentums: [Double]
    var maxMomentums: [Double]
    /// The momentum of every group after the last step.
    var lastMomentum: [Double] = []

    init(_ kind: ScheduleKind, _ optimizer: Optimizer, cycleMomentum: Bool, baseMomentum: [Double],
         maxMomentum: [Double]) throws(DescentError) {
        let groups = optimizer.groupCount
        self.cycleMomentum = cycleMomentum
        baseMomentums = cycleMomentum ? try perGroup(baseMomentum, "base_momentum", groups: groups) : []
        maxMomentums = cycleMomentum ? try perGroup(maxMomentum, "max_momentum", groups: groups) : []
        super.init(kind, optimizer)
    }

    /// Checks the momentum fields (of a loaded state too) and that the optimizer has a
    /// momentum to cycle.
    func validateMomentums() throws(DescentError) {
        guard cycleMomentum else { return }
        guard baseMomentums.count == groupCount, maxMomentums.count == groupCount, lastMomentum.count <= groupCount else {
            throw DescentError(.invalidArgument, "schedule state has momentums for the wrong number of param groups")
        }
        _ = try momentumOption()
    }

    /// Sets the groups' momentums to `values` and remembers them.
    func setCycledMomentums(_ values: [Double]) throws(DescentError) {
        lastMomentum = values
        try setMomentums(values)
    }

    override func writeLastLRs() throws(DescentError) {
        try super.writeLastLRs()
        if cycleMomentum { try setMomentums(lastMomentum) }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&cycleMomentum)
        try coder.code(&baseMomentums)
        try coder.code(&maxMomentums)
        try coder.code(&lastMomentum)
    }
}

public enum CyclicMode: Int64, Sendable {
    case triangular = 0
    case triangular2 = 1
    case expRange = 2
}

public final class CyclicLR: MomentumCyclingSchedule {
    var cyclicBaseLRs: [Double]
    var maxLRs: [Double]
    var stepSizeUp: Double
    var stepSizeDown: Double
    var mode: CyclicMode
    var gamma: Double

    /// `stepSizeDown` nil means equal to `stepSizeUp` (torch's None). Per-group values
    /// take one value for all groups or one per group.
    public init(_ optimizer: Optimizer, baseLR: [Double], maxLR: [Double], stepSizeUp: Int64 = 2000,
                stepSizeDown: Int64? = nil, mode: CyclicMode = .triangular, gamma: Double = 1.0,
                cycleMomentum: Bool = true, baseMomentum: [Double] = [0.8],
                maxMomentum: [Double] = [0.9]) throws(DescentError) {
        let groups = optimizer.groupCount
        cyclicBaseLRs = try perGroup(baseLR, "base_lr", groups: groups)
        maxLRs = try perGroup(maxLR, "max_lr", groups: groups)
        try requirePositive(stepSizeUp, "step_size_up")
        if let stepSizeDown { try requireNonNegative(stepSizeDown, "step_size_down") }
        self.stepSizeUp = Double(stepSizeUp)
        self.stepSizeDown = Double(stepSizeDown ?? stepSizeUp)
        self.mode = mode
        self.gamma = gamma
        try super.init(.cyclicLR, optimizer, cycleMomentum: cycleMomentum, baseMomentum: baseMomentum,
                       maxMomentum: maxMomentum)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        for (name, values) in [("base_lr", cyclicBaseLRs), ("max_lr", maxLRs)] {
            for value in values { try requireLR(value, name) }
        }
        guard stepSizeUp >= 1, stepSizeDown >= 0 else {
            throw DescentError(.invalidArgument, "schedule state has step sizes \(stepSizeUp), \(stepSizeDown)")
        }
        try requirePositiveGamma(gamma)
        try validateMomentums()
    }

    override func prepare() throws(DescentError) {
        try setLRs(cyclicBaseLRs)
        if cycleMomentum { try setMomentums(maxMomentums) }
    }

    override func afterInitialStep() throws(DescentError) { baseLRs = cyclicBaseLRs }

    override func computeLR() throws(DescentError) -> [Double] {
        let totalSize = stepSizeUp + stepSizeDown
        let stepRatio = stepSizeUp / totalSize
        let e = Double(lastEpoch)
        let cycle = (1 + e / totalSize).rounded(.down)
        let x = 1.0 + e / totalSize - cycle
        let scaleFactor = x <= stepRatio ? x / stepRatio : (x - 1) / (stepRatio - 1)
        let scale = switch mode {
        case .triangular: 1.0
        case .triangular2: 1 / pow(2.0, cycle - 1)
        case .expRange: pow(gamma, e)
        }
        let lrs = zip(baseLRs, maxLRs).map { base, top in base + (top - base) * scaleFactor * scale }
        if cycleMomentum {
            try setCycledMomentums(zip(baseMomentums, maxMomentums).map { base, top in top - (top - base) * scaleFactor * scale })
        }
        return lrs
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&cyclicBaseLRs)
        try coder.code(&maxLRs)
        try coder.code(&stepSizeUp)
        try coder.code(&stepSizeDown)
        try coder.code(&mode, "CyclicLR mode")
        try coder.code(&gamma)
    }
}

public enum AnnealStrategy: Int64, Sendable {
    case cos = 0
    case linear = 1
}

public final class OneCycleLR: MomentumCyclingSchedule {
    var totalSteps: Int64
    var pctStart: Double
    var annealStrategy: AnnealStrategy
    var divFactor: Double
    var finalDivFactor: Double
    var threePhase: Bool
    /// Per group, as torch keeps them in the param groups.
    var initialLRs: [Double] = []
    var maxLRs: [Double]
    var minLRs: [Double] = []

    public init(_ optimizer: Optimizer, maxLR: [Double], totalSteps: Int64, pctStart: Double = 0.3,
                annealStrategy: AnnealStrategy = .cos, cycleMomentum: Bool = true,
                baseMomentum: [Double] = [0.85], maxMomentum: [Double] = [0.95], divFactor: Double = 25.0,
                finalDivFactor: Double = 1e4, threePhase: Bool = false) throws(DescentError) {
        try requirePositive(totalSteps, "total_steps")
        guard pctStart >= 0, pctStart <= 1 else {
            throw DescentError(.invalidHyperparameter, "Expected float between 0 and 1 pct_start, but got \(pythonRepr(pctStart))")
        }
        let groups = optimizer.groupCount
        self.totalSteps = totalSteps
        self.pctStart = pctStart
        self.annealStrategy = annealStrategy
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
        self.threePhase = threePhase
        maxLRs = try perGroup(maxLR, "max_lr", groups: groups)
        try super.init(.oneCycleLR, optimizer, cycleMomentum: cycleMomentum, baseMomentum: baseMomentum,
                       maxMomentum: maxMomentum)
        initialLRs = maxLRs.map { $0 / divFactor }
        minLRs = initialLRs.map { $0 / finalDivFactor }
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        try requirePositive(totalSteps, "total_steps")
        for (name, value) in [("div_factor", divFactor), ("final_div_factor", finalDivFactor)] {
            guard value > 0, value.isFinite else {
                throw DescentError(.invalidHyperparameter, "Expected positive \(name), but got \(pythonRepr(value))")
            }
        }
        for value in maxLRs { try requireLR(value, "max_lr") }
        for (name, values) in [("initial_lr", initialLRs), ("min_lr", minLRs)] {
            for value in values { try requireLR(value, name) }
        }
        guard [initialLRs, maxLRs, minLRs].allSatisfy({ $0.count == groupCount }) else {
            throw DescentError(.invalidArgument, "schedule state has lrs for the wrong number of param groups")
        }
        try validateMomentums()
    }

    override func prepare() throws(DescentError) {
        for g in 0..<groupCount { optimizer.initialLRs[g] = initialLRs[g] }
        if cycleMomentum { try setMomentums(maxMomentums) }
    }

    /// A phase: where it ends, and the lr and momentum it anneals between, per group.
    private struct Phase {
        let endStep: Double
        let lr: (start: [Double], end: [Double])
        let momentum: (start: [Double], end: [Double])
    }

    private var phases: [Phase] {
        let total = Double(totalSteps)
        let (base, top) = (baseMomentums, maxMomentums)
        if threePhase {
            return [Phase(endStep: pctStart * total - 1, lr: (initialLRs, maxLRs), momentum: (top, base)),
                    Phase(endStep: 2 * pctStart * total - 2, lr: (maxLRs, initialLRs), momentum: (base, top)),
                    Phase(endStep: total - 1, lr: (initialLRs, minLRs), momentum: (top, top))]
        }
        return [Phase(endStep: pctStart * total - 1, lr: (initialLRs, maxLRs), momentum: (top, base)),
                Phase(endStep: total - 1, lr: (maxLRs, minLRs), momentum: (base, top))]
    }

    private func anneal(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        switch annealStrategy {
        case .cos: end + (start - end) / 2.0 * (cos(Double.pi * pct) + 1)
        case .linear: (end - start) * pct + start
        }
    }

    override func computeLR() throws(DescentError) -> [Double] {
        guard lastEpoch <= totalSteps else {
            throw DescentError(.invalidState, "Tried to step \(lastEpoch) times. The specified number of total steps is \(totalSteps)")
        }
        let step = Double(lastEpoch)
        let phases = self.phases
        var start = 0.0
        var chosen = phases.count - 1
        for (i, phase) in phases.enumerated() {
            if step <= phase.endStep || i == phases.count - 1 {
                chosen = i
                break
            }
            start = phase.endStep
        }
        let phase = phases[chosen]
        let pct = try divide(step - start, phase.endStep - start)
        let lrs = (0..<groupCount).map { anneal(phase.lr.start[$0], phase.lr.end[$0], pct) }
        if cycleMomentum {
            try setCycledMomentums((0..<groupCount).map { anneal(phase.momentum.start[$0], phase.momentum.end[$0], pct) })
        }
        return lrs
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&totalSteps)
        try coder.code(&pctStart)
        try coder.code(&annealStrategy, "anneal strategy")
        try coder.code(&divFactor)
        try coder.code(&finalDivFactor)
        try coder.code(&threePhase)
        try coder.code(&initialLRs)
        try coder.code(&maxLRs)
        try coder.code(&minLRs)
    }
}
