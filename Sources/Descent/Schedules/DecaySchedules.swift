#if canImport(Glibc)
import Glibc
#endif

// The schedules that multiply the lr by a factor at fixed epochs: torch's StepLR,
// MultiStepLR, ConstantLR, LinearLR, ExponentialLR and PolynomialLR, each a literal port
// of torch 2.15's `get_lr` (recursive form) and `_get_closed_form_lr`.

func requirePositiveGamma(_ gamma: Double) throws(DescentError) {
    guard gamma > 0, gamma.isFinite else {
        throw DescentError(.invalidHyperparameter, "Expected positive gamma, but got \(pythonRepr(gamma))")
    }
}


public final class StepLR: Schedule {
    var stepSize: Int64
    var gamma: Double

    public init(_ optimizer: Optimizer, stepSize: Int64, gamma: Double = 0.1) throws(DescentError) {
        self.stepSize = stepSize
        self.gamma = gamma
        super.init(.stepLR, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        try requirePositive(stepSize, "step_size")
        try requirePositiveGamma(gamma)
    }

    override func computeLR() throws(DescentError) -> [Double] {
        if lastEpoch == 0 || lastEpoch % stepSize != 0 { return lrs() }
        return lrs().map { $0 * gamma }
    }

    override func closedFormLR() -> [Double]? {
        baseLRs.map { $0 * pow(gamma, Double(floorDiv(lastEpoch, stepSize))) }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&stepSize)
        try coder.code(&gamma)
    }
}

public final class MultiStepLR: Schedule {
    /// Sorted; an epoch listed k times multiplies by gamma^k (torch keeps a Counter).
    var milestones: [Int64]
    var gamma: Double

    public init(_ optimizer: Optimizer, milestones: [Int64], gamma: Double = 0.1) throws(DescentError) {
        self.milestones = milestones
        self.gamma = gamma
        super.init(.multiStepLR, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        guard zip(milestones, milestones.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw DescentError(.invalidHyperparameter, "Expected milestones in increasing order, but got \(milestones)")
        }
        if let first = milestones.first { try requireNonNegative(first, "milestones") }
        try requirePositiveGamma(gamma)
    }

    override func computeLR() throws(DescentError) -> [Double] {
        let count = milestones.count { $0 == lastEpoch }
        if count == 0 { return lrs() }
        return lrs().map { $0 * pow(gamma, Double(count)) }
    }

    override func closedFormLR() -> [Double]? {
        let passed = milestones.count { $0 <= lastEpoch }
        return baseLRs.map { $0 * pow(gamma, Double(passed)) }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&milestones)
        try coder.code(&gamma)
    }
}

public final class ConstantLR: Schedule {
    var factor: Double
    var totalIters: Int64

    public init(_ optimizer: Optimizer, factor: Double = 1.0 / 3, totalIters: Int64 = 5) throws(DescentError) {
        self.factor = factor
        self.totalIters = totalIters
        super.init(.constantLR, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        guard factor >= 0, factor <= 1 else {
            throw DescentError(.invalidHyperparameter, "Constant multiplicative factor expected to be between 0 and 1.")
        }
        try requireNonNegative(totalIters, "total_iters")
    }

    override func computeLR() throws(DescentError) -> [Double] {
        if lastEpoch == 0 { return lrs().map { $0 * factor } }
        if lastEpoch != totalIters { return lrs() }
        let restore = try divide(1.0, factor)
        return lrs().map { $0 * restore }
    }

    override func closedFormLR() -> [Double]? {
        let reached = lastEpoch >= totalIters ? 1.0 : 0.0
        return baseLRs.map { $0 * (factor + reached * (1 - factor)) }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&factor)
        try coder.code(&totalIters)
    }
}

public final class LinearLR: Schedule {
    var startFactor: Double
    var endFactor: Double
    var totalIters: Int64

    public init(_ optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1.0,
                totalIters: Int64 = 5) throws(DescentError) {
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalIters = totalIters
        super.init(.linearLR, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        guard startFactor > 0, startFactor <= 1 else {
            throw DescentError(.invalidHyperparameter, "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        }
        guard endFactor >= 0, endFactor <= 1 else {
            throw DescentError(.invalidHyperparameter, "Ending multiplicative factor expected to be between 0 and 1.")
        }
        try requireNonNegative(totalIters, "total_iters")
    }

    override func computeLR() throws(DescentError) -> [Double] {
        if lastEpoch == 0 { return lrs().map { $0 * startFactor } }
        if isInitial || lastEpoch > totalIters { return lrs() }
        let delta = endFactor - startFactor
        let factor = 1.0 + (try divide(delta, Double(totalIters) * startFactor + Double(lastEpoch - 1) * delta))
        return lrs().map { $0 * factor }
    }

    override func closedFormLR() -> [Double]? {
        let progress = (endFactor - startFactor) * Double(min(totalIters, lastEpoch)) / Double(totalIters)
        return baseLRs.map { $0 * (startFactor + progress) }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&startFactor)
        try coder.code(&endFactor)
        try coder.code(&totalIters)
    }
}

public final class ExponentialLR: Schedule {
    var gamma: Double

    public init(_ optimizer: Optimizer, gamma: Double) throws(DescentError) {
        self.gamma = gamma
        super.init(.exponentialLR, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) { try requirePositiveGamma(gamma) }

    override func computeLR() throws(DescentError) -> [Double] {
        if isInitial { return lrs() }
        return lrs().map { $0 * gamma }
    }

    override func closedFormLR() -> [Double]? {
        baseLRs.map { $0 * pow(gamma, Double(lastEpoch)) }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&gamma)
    }
}

public final class PolynomialLR: Schedule {
    var totalIters: Int64
    var power: Double

    public init(_ optimizer: Optimizer, totalIters: Int64 = 5, power: Double = 1.0) throws(DescentError) {
        self.totalIters = totalIters
        self.power = power
        super.init(.polynomialLR, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        try requireNonNegative(totalIters, "total_iters")
        try requireFinite(power, "power")
    }

    override func computeLR() throws(DescentError) -> [Double] {
        if isInitial || lastEpoch > totalIters { return lrs() }
        let t = Double(totalIters)
        let ratio = try divide(1.0 - (try divide(Double(lastEpoch), t)), 1.0 - Double(lastEpoch - 1) / t)
        let decay = pow(ratio, power)
        return lrs().map { $0 * decay }
    }

    override func closedFormLR() -> [Double]? {
        let t = Double(totalIters)
        return baseLRs.map { $0 * pow(1.0 - Double(min(totalIters, lastEpoch)) / t, power) }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&totalIters)
        try coder.code(&power)
    }
}
