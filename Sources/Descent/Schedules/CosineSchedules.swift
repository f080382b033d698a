#if canImport(Glibc)
import Glibc
#endif

// Cosine annealing: torch's CosineAnnealingLR (its recursive form, which is what torch
// users get from step()) and CosineAnnealingWarmRestarts, and Descent's WarmupCosineLR.

public final class CosineAnnealingLR: Schedule {
    var tMax: Int64
    var etaMin: Double

    public init(_ optimizer: Optimizer, tMax: Int64, etaMin: Double = 0.0) throws(DescentError) {
        self.tMax = tMax
        self.etaMin = etaMin
        super.init(.cosineAnnealingLR, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        try requirePositive(tMax, "T_max")
        try requireLR(etaMin, "eta_min")
    }

    override func computeLR() throws(DescentError) -> [Double] {
        let e = Double(lastEpoch), t = Double(tMax)
        if isInitial { return lrs() }
        if stepCount == 1 && lastEpoch > 0 {
            return baseLRs.map { etaMin + ($0 - etaMin) * (1 + cos(e * Double.pi / t)) / 2 }
        }
        if floorMod(lastEpoch - 1 - tMax, 2 * tMax) == 0 {
            return zip(lrs(), baseLRs).map { lr, base in lr + (base - etaMin) * (1 - cos(Double.pi / t)) / 2 }
        }
        let ratio = try divide(1 + cos(Double.pi * e / t), 1 + cos(Double.pi * (e - 1) / t))
        return lrs().map { ratio * ($0 - etaMin) + etaMin }
    }

    override func closedFormLR() -> [Double]? {
        let e = Double(lastEpoch), t = Double(tMax)
        return baseLRs.map { etaMin + ($0 - etaMin) * (1 + cos(Double.pi * e / t)) / 2 }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&tMax)
        try coder.code(&etaMin)
    }
}

public final class CosineAnnealingWarmRestarts: Schedule {
    var t0: Int64
    var tMult: Int64
    var etaMin: Double
    /// Epochs since the last restart, and the length of the current cycle.
    var tCur: Int64 = -1
    var tI: Int64

    public init(_ optimizer: Optimizer, t0: Int64, tMult: Int64 = 1, etaMin: Double = 0.0) throws(DescentError) {
        self.t0 = t0
        self.tMult = tMult
        self.etaMin = etaMin
        tI = t0
        super.init(.cosineAnnealingWarmRestarts, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        try requirePositive(t0, "T_0")
        guard tMult >= 1 else {
            throw DescentError(.invalidHyperparameter, "Expected integer T_mult >= 1, but got \(tMult)")
        }
        try requireLR(etaMin, "eta_min")
        // A loaded state must describe a reachable point of the schedule.
        guard tI >= t0, tI <= maxSteps, tCur >= -1, tCur < tI else {
            throw DescentError(.invalidArgument, "schedule state has T_cur \(tCur) outside a cycle of T_i \(tI)")
        }
    }

    /// torch's `step()` with no epoch (the epoch argument is deprecated there).
    override func advance(metric: Double?) throws(DescentError) {
        if lastEpoch < 0 {
            tI = t0
            tCur = 0
            lastEpoch = 0
        } else {
            lastEpoch += 1
            tCur += 1
            if tCur >= tI {
                tCur %= tI
                let (next, overflow) = tI.multipliedReportingOverflow(by: tMult)
                guard !overflow else {
                    throw DescentError(.invalidState, "CosineAnnealingWarmRestarts: the next cycle length overflows")
                }
                tI = next
            }
        }
        try setLRs(try computeLR())
        lastLR = lrs()
    }

    override func computeLR() throws(DescentError) -> [Double] {
        let phase = Double.pi * Double(tCur) / Double(tI)
        return baseLRs.map { etaMin + ($0 - etaMin) * (1 + cos(phase)) / 2 }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&t0)
        try coder.code(&tMult)
        try coder.code(&etaMin)
        try coder.code(&tCur)
        try coder.code(&tI)
    }
}

/// Linear warmup, then cosine decay, then constant: Descent's own schedule (torch has
/// none), the seed document's formula. Each group peaks at its own lr when the schedule
/// is created (`max_lr`); t counts steps from creation:
///   t < warmup_steps:             max_lr · t / warmup_steps   (`.fromZero`, the seed's and
///                                 transformers' get_cosine_schedule_with_warmup's), or
///                                 max_lr · (t + 1) / (warmup_steps + 1)   (`.fromFirstStep`)
///   warmup_steps ≤ t < decay_steps: min_lr + 0.5 · (max_lr − min_lr) · (1 + cos(π·p)),
///                                 p = (t − warmup_steps) / (decay_steps − warmup_steps)
///   t ≥ decay_steps:              min_lr
public final class WarmupCosineLR: Schedule {
    /// Where the warmup starts: from an lr of 0 at the first step, or one step in (the
    /// first step already moves). Raw values are the C interface's.
    public enum WarmupStart: Int64, Sendable {
        case fromZero = 0
        case fromFirstStep = 1
    }

    var warmupSteps: Int64
    var decaySteps: Int64
    var minLR: Double
    var warmupStart: WarmupStart

    public init(_ optimizer: Optimizer, warmupSteps: Int64, decaySteps: Int64, minLR: Double = 0.0,
                warmupStart: WarmupStart = .fromZero) throws(DescentError) {
        self.warmupSteps = warmupSteps
        self.decaySteps = decaySteps
        self.minLR = minLR
        self.warmupStart = warmupStart
        super.init(.warmupCosineLR, optimizer)
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        try requireNonNegative(warmupSteps, "warmup_steps")
        guard decaySteps >= warmupSteps else {
            throw DescentError(.invalidHyperparameter, "Expected decay_steps >= warmup_steps, but got decay_steps=\(decaySteps), warmup_steps=\(warmupSteps)")
        }
        guard minLR >= 0, minLR.isFinite else {
            throw DescentError(.invalidHyperparameter, "Invalid min_lr: \(pythonRepr(minLR))")
        }
    }

    override func computeLR() throws(DescentError) -> [Double] { lrsAtLastEpoch() }

    override func closedFormLR() -> [Double]? { lrsAtLastEpoch() }

    private func lrsAtLastEpoch() -> [Double] {
        let t = lastEpoch
        if t < warmupSteps {
            switch warmupStart {
            case .fromZero: return baseLRs.map { $0 * Double(t) / Double(warmupSteps) }
            case .fromFirstStep: return baseLRs.map { $0 * Double(t + 1) / Double(warmupSteps + 1) }
            }
        }
        if t < decaySteps {
            let p = Double(t - warmupSteps) / Double(decaySteps - warmupSteps)
            return baseLRs.map { minLR + 0.5 * ($0 - minLR) * (1 + cos(Double.pi * p)) }
        }
        return baseLRs.map { _ in minLR }
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&warmupSteps)
        try coder.code(&decaySteps)
        try coder.code(&minLR)
        if coder.version >= 3 {
            try coder.code(&warmupStart, "warmup start")
        } else if coder.isReading {
            warmupStart = .fromFirstStep  // the one form before version 3
        }
    }
}
