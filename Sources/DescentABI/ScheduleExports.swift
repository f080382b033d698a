import CDescent
import Descent

// The exported schedule functions of include/descent.h (section "schedules").

// MARK: Names and defaults

@_cdecl("descent_schedule_kind_name")
public func exportScheduleKindName(_ id: descent_schedule_kind) -> UnsafePointer<CChar>? {
    switch ScheduleKind(rawValue: Int64(id.rawValue)) {
    case .stepLR: staticCString("StepLR")
    case .multiStepLR: staticCString("MultiStepLR")
    case .constantLR: staticCString("ConstantLR")
    case .linearLR: staticCString("LinearLR")
    case .exponentialLR: staticCString("ExponentialLR")
    case .polynomialLR: staticCString("PolynomialLR")
    case .cosineAnnealingLR: staticCString("CosineAnnealingLR")
    case .cosineAnnealingWarmRestarts: staticCString("CosineAnnealingWarmRestarts")
    case .cyclicLR: staticCString("CyclicLR")
    case .oneCycleLR: staticCString("OneCycleLR")
    case .reduceLROnPlateau: staticCString("ReduceLROnPlateau")
    case .lambdaLR: staticCString("LambdaLR")
    case .multiplicativeLR: staticCString("MultiplicativeLR")
    case .sequentialLR: staticCString("SequentialLR")
    case .chainedScheduler: staticCString("ChainedScheduler")
    case .warmupCosineLR: staticCString("WarmupCosineLR")
    case nil: nil
    }
}

@_cdecl("descent_cyclic_lr_defaults")
public func exportCyclicDefaults(_ out: UnsafeMutablePointer<descent_cyclic_lr_options>?) -> descent_status {
    callWithoutHandle {
        try required(out, "out").pointee = descent_cyclic_lr_options(
            base_lr: 0, base_lr_per_group: nil, max_lr: 0, max_lr_per_group: nil,
            step_size_up: 2000, step_size_down: -1, mode: DESCENT_CYCLIC_TRIANGULAR, gamma: 1.0,
            cycle_momentum: true, base_momentum: 0.8, base_momentum_per_group: nil,
            max_momentum: 0.9, max_momentum_per_group: nil)
    }
}

@_cdecl("descent_one_cycle_lr_defaults")
public func exportOneCycleDefaults(_ out: UnsafeMutablePointer<descent_one_cycle_lr_options>?) -> descent_status {
    callWithoutHandle {
        try required(out, "out").pointee = descent_one_cycle_lr_options(
            max_lr: 0, max_lr_per_group: nil, total_steps: 0, pct_start: 0.3,
            anneal_strategy: DESCENT_ANNEAL_COS, cycle_momentum: true, base_momentum: 0.85,
            base_momentum_per_group: nil, max_momentum: 0.95, max_momentum_per_group: nil,
            div_factor: 25.0, final_div_factor: 1e4, three_phase: false)
    }
}

@_cdecl("descent_reduce_lr_on_plateau_defaults")
public func exportPlateauDefaults(_ out: UnsafeMutablePointer<descent_reduce_lr_on_plateau_options>?) -> descent_status {
    callWithoutHandle {
        try required(out, "out").pointee = descent_reduce_lr_on_plateau_options(
            mode: DESCENT_PLATEAU_MIN, factor: 0.1, patience: 10, threshold: 1e-4,
            threshold_mode: DESCENT_THRESHOLD_REL, cooldown: 0, min_lr: 0, min_lr_per_group: nil, eps: 1e-8)
    }
}

// MARK: Creation

/// Creates a schedule on `opt` with `make` and hands out its handle.
private func create(_ opt: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                    _ make: (Optimizer, Handle) throws -> Schedule) -> descent_status {
    out?.pointee = nil
    guard let opt, let handle = Registry.lookup(opt, as: Handle.self) else {
        return call(opt) { _ in }
    }
    return call(opt) { optimizer in
        let out = try required(out, "out")
        let schedule = try make(optimizer, handle)
        out.pointee = Registry.insert(ScheduleHandle(handle, schedule))
    }
}

/// A value for every group: the per-group array if given (one per group), else `value`.
private func values(_ value: Double, _ perGroup: UnsafePointer<Double>?, _ optimizer: Optimizer) -> [Double] {
    guard let perGroup else { return [value] }
    return Array(UnsafeBufferPointer(start: perGroup, count: optimizer.groupCount))
}

@_cdecl("descent_schedule_step_lr")
public func exportStepLR(_ opt: OpaquePointer?, _ stepSize: Int64, _ gamma: Double,
                         _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in try StepLR(optimizer, stepSize: stepSize, gamma: gamma) }
}

@_cdecl("descent_schedule_multi_step_lr")
public func exportMultiStepLR(_ opt: OpaquePointer?, _ milestones: UnsafePointer<Int64>?, _ count: Int,
                              _ gamma: Double, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in
        try MultiStepLR(optimizer, milestones: try int64Array(milestones, count, "milestones"), gamma: gamma)
    }
}

@_cdecl("descent_schedule_constant_lr")
public func exportConstantLR(_ opt: OpaquePointer?, _ factor: Double, _ totalIters: Int64,
                             _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in try ConstantLR(optimizer, factor: factor, totalIters: totalIters) }
}

@_cdecl("descent_schedule_linear_lr")
public func exportLinearLR(_ opt: OpaquePointer?, _ startFactor: Double, _ endFactor: Double, _ totalIters: Int64,
                           _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in
        try LinearLR(optimizer, startFactor: startFactor, endFactor: endFactor, totalIters: totalIters)
    }
}

@_cdecl("descent_schedule_exponential_lr")
public func exportExponentialLR(_ opt: OpaquePointer?, _ gamma: Double,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in try ExponentialLR(optimizer, gamma: gamma) }
}

@_cdecl("descent_schedule_polynomial_lr")
public func exportPolynomialLR(_ opt: OpaquePointer?, _ totalIters: Int64, _ power: Double,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in try PolynomialLR(optimizer, totalIters: totalIters, power: power) }
}

@_cdecl("descent_schedule_cosine_annealing_lr")
public func exportCosineAnnealingLR(_ opt: OpaquePointer?, _ tMax: Int64, _ etaMin: Double,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in try CosineAnnealingLR(optimizer, tMax: tMax, etaMin: etaMin) }
}

@_cdecl("descent_schedule_cosine_annealing_warm_restarts")
public func exportWarmRestarts(_ opt: OpaquePointer?, _ t0: Int64, _ tMult: Int64, _ etaMin: Double,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in
        try CosineAnnealingWarmRestarts(optimizer, t0: t0, tMult: tMult, etaMin: etaMin)
    }
}

@_cdecl("descent_schedule_warmup_cosine_lr")
public func exportWarmupCosineLR(_ opt: OpaquePointer?, _ warmupSteps: Int64, _ decaySteps: Int64,
                                 _ minLR: Double, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    exportWarmupCosineLRWith(opt, warmupSteps, decaySteps, minLR, DESCENT_WARMUP_FROM_ZERO, out)
}

@_cdecl("descent_schedule_warmup_cosine_lr_with")
public func exportWarmupCosineLRWith(_ opt: OpaquePointer?, _ warmupSteps: Int64, _ decaySteps: Int64,
                                     _ minLR: Double, _ start: descent_warmup_start,
                                     _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in
        guard let warmupStart = WarmupCosineLR.WarmupStart(rawValue: Int64(Int32(bitPattern: start.rawValue))) else {
            throw DescentError(.invalidArgument, "unknown warmup start \(Int32(bitPattern: start.rawValue))")
        }
        return try WarmupCosineLR(optimizer, warmupSteps: warmupSteps, decaySteps: decaySteps, minLR: minLR,
                                  warmupStart: warmupStart)
    }
}

@_cdecl("descent_schedule_cyclic_lr")
public func exportCyclicLR(_ opt: OpaquePointer?, _ options: UnsafePointer<descent_cyclic_lr_options>?,
                           _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in
        let o = try load(try required(options, "options"), "descent_cyclic_lr_options",
                         flags: [(\.cycle_momentum, "cycle_momentum")])
        guard let mode = CyclicMode(rawValue: Int64(o.mode.rawValue)) else {
            throw DescentError(.invalidHyperparameter, "mode \(o.mode.rawValue) is invalid and scale_fn is None")
        }
        guard o.step_size_down >= -1 else {
            throw DescentError(.invalidHyperparameter, "Expected non-negative integer step_size_down (or -1 for None), but got \(o.step_size_down)")
        }
        return try CyclicLR(optimizer, baseLR: values(o.base_lr, o.base_lr_per_group, optimizer),
                            maxLR: values(o.max_lr, o.max_lr_per_group, optimizer),
                            stepSizeUp: o.step_size_up, stepSizeDown: o.step_size_down == -1 ? nil : o.step_size_down,
                            mode: mode, gamma: o.gamma, cycleMomentum: o.cycle_momentum,
                            baseMomentum: values(o.base_momentum, o.base_momentum_per_group, optimizer),
                            maxMomentum: values(o.max_momentum, o.max_momentum_per_group, optimizer))
    }
}

@_cdecl("descent_schedule_one_cycle_lr")
public func exportOneCycleLR(_ opt: OpaquePointer?, _ options: UnsafePointer<descent_one_cycle_lr_options>?,
                             _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in
        let o = try load(try required(options, "options"), "descent_one_cycle_lr_options",
                         flags: [(\.cycle_momentum, "cycle_momentum"), (\.three_phase, "three_phase")])
        guard let strategy = AnnealStrategy(rawValue: Int64(o.anneal_strategy.rawValue)) else {
            throw DescentError(.invalidHyperparameter, "anneal_strategy must be one of 'cos' or 'linear', instead got \(o.anneal_strategy.rawValue)")
        }
        return try OneCycleLR(optimizer, maxLR: values(o.max_lr, o.max_lr_per_group, optimizer),
                              totalSteps: o.total_steps, pctStart: o.pct_start, annealStrategy: strategy,
                              cycleMomentum: o.cycle_momentum,
                              baseMomentum: values(o.base_momentum, o.base_momentum_per_group, optimizer),
                              maxMomentum: values(o.max_momentum, o.max_momentum_per_group, optimizer),
                              divFactor: o.div_factor, finalDivFactor: o.final_div_factor,
                              threePhase: o.three_phase)
    }
}

@_cdecl("descent_schedule_reduce_lr_on_plateau")
public func exportReduceLROnPlateau(_ opt: OpaquePointer?,
                                    _ options: UnsafePointer<descent_reduce_lr_on_plateau_options>?,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in
        let o = try required(options, "options").pointee
        guard let mode = ReduceLROnPlateau.Mode(rawValue: Int64(o.mode.rawValue)) else {
            throw DescentError(.invalidHyperparameter, "mode \(o.mode.rawValue) is unknown!")
        }
        guard let thresholdMode = ReduceLROnPlateau.ThresholdMode(rawValue: Int64(o.threshold_mode.rawValue)) else {
            throw DescentError(.invalidHyperparameter, "threshold mode \(o.threshold_mode.rawValue) is unknown!")
        }
        return try ReduceLROnPlateau(optimizer, mode: mode, factor: o.factor, patience: o.patience,
                                     threshold: o.threshold, thresholdMode: thresholdMode, cooldown: o.cooldown,
                                     minLR: values(o.min_lr, o.min_lr_per_group, optimizer), eps: o.eps)
    }
}

/// Wraps the caller's lr_lambda: marks the thread as inside a callback (re-entrant
/// calls are refused) and turns a non-zero return into an error.
private func lambda(_ function: descent_lr_lambda?, _ userData: UnsafeMutableRawPointer?,
                    _ handle: Handle) throws -> LRLambda {
    guard let function else { throw ABIError(status: DESCENT_ERROR_NULL_POINTER, message: "lr_lambda is NULL") }
    return { (group: Int, epoch: Int64) throws(DescentError) -> Double in
        var factor = 0.0
        let result = CallbackScope.run(for: handle) { function(userData, group, epoch, &factor) }
        guard result == 0 else {
            throw DescentError(.callbackFailed, "lr_lambda returned \(result) for group \(group) at epoch \(epoch)")
        }
        return factor
    }
}

@_cdecl("descent_schedule_lambda_lr")
public func exportLambdaLR(_ opt: OpaquePointer?, _ function: descent_lr_lambda?, _ userData: UnsafeMutableRawPointer?,
                           _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, handle in try LambdaLR(optimizer, lrLambda: try lambda(function, userData, handle)) }
}

@_cdecl("descent_schedule_multiplicative_lr")
public func exportMultiplicativeLR(_ opt: OpaquePointer?, _ function: descent_lr_lambda?,
                                   _ userData: UnsafeMutableRawPointer?,
                                   _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, handle in
        try MultiplicativeLR(optimizer, lrLambda: try lambda(function, userData, handle))
    }
}

/// The schedules behind `count` handles. Runs under the optimizer's lock; the registry
/// lock is taken inside it (the ABI's lock order).
private func schedules(_ handles: UnsafePointer<OpaquePointer?>?, _ count: Int) throws -> [Schedule] {
    guard count >= 0, count <= Int.max / 64 else {
        throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "count \(count) is too large")
    }
    if count == 0 { return [] }
    let handles = UnsafeBufferPointer(start: try required(handles, "schedules"), count: count)
    return try handles.enumerated().map { i, pointer in
        guard let pointer, let handle = Registry.lookup(pointer, as: ScheduleHandle.self) else {
            throw ABIError(status: DESCENT_ERROR_INVALID_HANDLE, message: "schedules[\(i)] is not a live descent schedule")
        }
        return handle.schedule
    }
}

private func int64Array(_ pointer: UnsafePointer<Int64>?, _ count: Int, _ name: String) throws -> [Int64] {
    guard count >= 0, count <= Int.max / 64 else {
        throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "\(name) count \(count) is too large")
    }
    if count == 0 { return [] }
    return Array(UnsafeBufferPointer(start: try required(pointer, name), count: count))
}

@_cdecl("descent_schedule_sequential_lr")
public func exportSequentialLR(_ opt: OpaquePointer?, _ handles: UnsafePointer<OpaquePointer?>?, _ count: Int,
                               _ milestones: UnsafePointer<Int64>?,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in
        let children = try schedules(handles, count)
        return try SequentialLR(optimizer, schedules: children,
                                milestones: try int64Array(milestones, max(count - 1, 0), "milestones"))
    }
}

@_cdecl("descent_schedule_chained_scheduler")
public func exportChainedScheduler(_ opt: OpaquePointer?, _ handles: UnsafePointer<OpaquePointer?>?, _ count: Int,
                                   _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    create(opt, out) { optimizer, _ in try ChainedScheduler(optimizer, schedules: try schedules(handles, count)) }
}

// MARK: Using a schedule

@_cdecl("descent_schedule_free")
public func exportScheduleFree(_ schedule: OpaquePointer?) -> descent_status {
    guard let schedule else { return DESCENT_OK }
    guard let handle = Registry.lookup(schedule, as: ScheduleHandle.self) else {
        return callWithoutHandle {
            throw ABIError(status: DESCENT_ERROR_INVALID_HANDLE, message: "schedule is not a live descent schedule (freed, or never created)")
        }
    }
    // Works after the optimizer is gone: only its lock is needed, not the optimizer.
    return callWithoutHandle {
        try withHandleLock(handle.owner) {
            if let owner = handle.schedule.owner {
                throw ABIError(status: DESCENT_ERROR_INVALID_STATE, message: "this \(handle.schedule.kind.name) belongs to a \(owner.kind.name); free that one first")
            }
            guard Registry.remove(schedule, as: ScheduleHandle.self) != nil else {
                throw ABIError(status: DESCENT_ERROR_INVALID_HANDLE, message: "schedule is not a live descent schedule (freed, or never created)")
            }
            (handle.schedule as? CompositeSchedule)?.releaseChildren()
        }
    }
}

@_cdecl("descent_schedule_step")
public func exportScheduleStep(_ schedule: OpaquePointer?) -> descent_status {
    callSchedule(schedule) { handle in try handle.schedule.step() }
}

@_cdecl("descent_schedule_step_metric")
public func exportScheduleStepMetric(_ schedule: OpaquePointer?, _ metric: Double) -> descent_status {
    callSchedule(schedule) { handle in try handle.schedule.step(metric: metric) }
}

@_cdecl("descent_schedule_last_lr")
public func exportScheduleLastLR(_ schedule: OpaquePointer?, _ out: UnsafeMutablePointer<Double>?,
                                 _ count: Int) -> descent_status {
    callSchedule(schedule) { handle in
        let lrs = handle.schedule.lastLR
        guard count == lrs.count else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "count must be the number of param groups (\(lrs.count)), got \(count)")
        }
        let out = try required(out, "out")
        for (i, lr) in lrs.enumerated() { out[i] = lr }
    }
}

@_cdecl("descent_schedule_last_epoch")
public func exportScheduleLastEpoch(_ schedule: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> descent_status {
    callSchedule(schedule) { handle in try required(out, "out").pointee = handle.schedule.lastEpoch }
}

@_cdecl("descent_schedule_get_kind")
public func exportScheduleGetKind(_ schedule: OpaquePointer?,
                                  _ out: UnsafeMutablePointer<descent_schedule_kind>?) -> descent_status {
    callSchedule(schedule) { handle in
        try required(out, "out").pointee = descent_schedule_kind(rawValue: UInt32(handle.schedule.kind.rawValue))
    }
}

@_cdecl("descent_schedule_state_size")
public func exportScheduleStateSize(_ schedule: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> descent_status {
    callSchedule(schedule) { handle in try required(out, "out").pointee = handle.schedule.saveState().count }
}

@_cdecl("descent_schedule_save_state")
public func exportScheduleSaveState(_ schedule: OpaquePointer?, _ buffer: UnsafeMutableRawPointer?, _ size: Int,
                                    _ written: UnsafeMutablePointer<Int>?) -> descent_status {
    callSchedule(schedule) { handle in
        let bytes = handle.schedule.saveState()
        guard size >= bytes.count else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "buffer of \(size) bytes is too small for the state (\(bytes.count) bytes)")
        }
        let buffer = try requiredBytes(buffer, "buffer")
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        written?.pointee = bytes.count
    }
}

@_cdecl("descent_schedule_load_state")
public func exportScheduleLoadState(_ schedule: OpaquePointer?, _ buffer: UnsafeRawPointer?,
                                    _ size: Int) -> descent_status {
    callSchedule(schedule) { handle in
        guard size >= 0, size <= Int.max / 64 else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "size \(size) is too large")
        }
        let bytes = size == 0 ? [] : Array(UnsafeRawBufferPointer(start: try requiredBytes(buffer, "buffer"), count: size))
        try handle.schedule.loadState(bytes)
    }
}
