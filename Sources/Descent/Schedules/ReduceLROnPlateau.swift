/// torch's ReduceLROnPlateau: multiplies the lr by `factor` once the metric has not
/// improved for `patience` steps, then waits `cooldown` steps.
///
/// Unlike torch, it may sit inside SequentialLR and ChainedScheduler (a composite passes
/// its metric on). At its milestone in a SequentialLR it restarts: its counters reset and
/// the groups go back to their base lrs (as torch's other schedules restart from their
/// closed form at epoch 0); that step's metric is not compared.
public final class ReduceLROnPlateau: Schedule {
    public enum Mode: Int64, Sendable { case min = 0, max = 1 }
    public enum ThresholdMode: Int64, Sendable { case rel = 0, abs = 1 }

    var mode: Mode
    var factor: Double
    var patience: Int64
    var threshold: Double
    var thresholdMode: ThresholdMode
    var cooldown: Int64
    var minLRs: [Double]
    var eps: Double
    var best: Double = 0
    var numBadEpochs: Int64 = 0
    var cooldownCounter: Int64 = 0

    public init(_ optimizer: Optimizer, mode: Mode = .min, factor: Double = 0.1, patience: Int64 = 10,
                threshold: Double = 1e-4, thresholdMode: ThresholdMode = .rel, cooldown: Int64 = 0,
                minLR: [Double] = [0], eps: Double = 1e-8) throws(DescentError) {
        guard factor < 1.0 else { throw DescentError(.invalidHyperparameter, "Factor should be < 1.0.") }
        let groups = optimizer.groupCount
        if minLR.count != 1 && minLR.count != groups {
            throw DescentError(.invalidHyperparameter, "expected \(groups) min_lrs, got \(minLR.count)")
        }
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.thresholdMode = thresholdMode
        self.cooldown = cooldown
        self.minLRs = minLR.count == 1 ? Array(repeating: minLR[0], count: groups) : minLR
        self.eps = eps
        super.init(.reduceLROnPlateau, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        guard factor >= 0, factor < 1.0 else { throw DescentError(.invalidHyperparameter, "Factor should be < 1.0.") }
        try requireNonNegative(patience, "patience")
        try requireNonNegative(cooldown, "cooldown")
        try requireFinite(threshold, "threshold")
        guard eps >= 0, eps.isFinite else { throw DescentError(.invalidHyperparameter, "Expected non-negative eps, but got \(pythonRepr(eps))") }
        guard minLRs.count == groupCount else {
            throw DescentError(.invalidArgument, "schedule state has \(minLRs.count) min_lrs for \(groupCount) param groups")
        }
        for value in minLRs {
            guard value >= 0, value.isFinite else { throw DescentError(.invalidHyperparameter, "Invalid min_lr: \(pythonRepr(value))") }
        }
        guard (0...maxSteps).contains(numBadEpochs), (0...maxSteps).contains(cooldownCounter), !best.isNaN else {
            throw DescentError(.invalidArgument, "schedule state has negative counters or a nan best metric")
        }
    }

    /// torch's constructor: no initial step and no `initial_lr`; base lrs (for a restart
    /// inside a SequentialLR) are the groups' initial lrs if a schedule set them.
    override func start() throws(DescentError) {
        baseLRs = (0..<groupCount).map { optimizer.initialLRs[$0] ?? optimizer.groups[$0][.lr] }
        lastEpoch = 0
        reset()
        lastLR = lrs()
    }

    private func reset() {
        best = mode == .min ? .infinity : -.infinity
        cooldownCounter = 0
        numBadEpochs = 0
    }

    override func initialStep() throws(DescentError) {
        lastEpoch = 0
        reset()
        lastLR = lrs()
    }

    override func updateLR(epoch: Int64?) throws(DescentError) {
        lastEpoch = epoch ?? lastEpoch + 1
        reset()
        try setLRs(baseLRs)
        lastLR = lrs()
    }

    public override var needsMetric: Bool { true }

    override func advance(metric: Double?) throws(DescentError) {
        guard let current = metric else {
            throw DescentError(.invalidState, "ReduceLROnPlateau needs a metric: step it with one")
        }
        lastEpoch += 1
        if isBetter(current) {
            best = current
            numBadEpochs = 0
        } else {
            numBadEpochs += 1
        }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            numBadEpochs = 0
        }
        if numBadEpochs > patience {
            try reduceLRs()
            cooldownCounter = cooldown
            numBadEpochs = 0
        }
        lastLR = lrs()
    }

    private func reduceLRs() throws(DescentError) {
        for (g, old) in lrs().enumerated() {
            let new = max(old * factor, minLRs[g])
            if old - new > eps { try optimizer.set(.lr, to: new, inGroup: g) }
        }
    }

    private func isBetter(_ a: Double) -> Bool {
        switch (mode, thresholdMode) {
        case (.min, .rel): a < best * (1.0 - threshold)
        case (.min, .abs): a < best - threshold
        case (.max, .rel): a > best * (threshold + 1.0)
        case (.max, .abs): a > best + threshold
        }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&mode, "ReduceLROnPlateau mode")
        try coder.code(&thresholdMode, "ReduceLROnPlateau threshold mode")
        try coder.code(&factor)
        try coder.code(&patience)
        try coder.code(&threshold)
        try coder.code(&cooldown)
        try coder.code(&minLRs)
        try coder.code(&eps)
        try coder.code(&best)
        try coder.code(&numBadEpochs)
        try coder.code(&cooldownCounter)
    }
}
