import CDescent
import Descent

/// A failure found by the ABI layer itself (a NULL pointer, an unknown id).
struct ABIError: Error {
    let status: descent_status
    let message: String
}

/// Runs `body` on the live optimizer behind `opt`, serialized with every other call on
/// it; turns whatever it throws into a status and the handle's last-error message.
/// `allowedInClosure`: the call may be made from inside this optimizer's own step
/// closure (descent_step_closure), which then runs it under the lock it holds.
func call(_ opt: OpaquePointer?, allowedInClosure: Bool = false, _ body: (Optimizer) throws -> Void) -> descent_status {
    callHandle(opt, allowedInClosure: allowedInClosure) { try body($0.optimizer) }
}

/// Like `call`, with the handle (for calls that run a caller's callback).
func callHandle(_ opt: OpaquePointer?, allowedInClosure: Bool = false, _ body: (Handle) throws -> Void) -> descent_status {
    guard let opt else {
        return callWithoutHandle { throw ABIError(status: DESCENT_ERROR_NULL_POINTER, message: "opt is NULL") }
    }
    guard let handle = Registry.lookup(opt, as: Handle.self) else {
        return callWithoutHandle { throw invalidHandle }
    }
    return locked(handle, allowedInClosure: allowedInClosure) { try body(handle) }
}

/// Runs `body` on the live schedule behind `schedule`, under its optimizer's lock;
/// failures go to the optimizer's last-error message.
func callSchedule(_ schedule: OpaquePointer?, _ body: (ScheduleHandle) throws -> Void) -> descent_status {
    guard let schedule else {
        return callWithoutHandle { throw ABIError(status: DESCENT_ERROR_NULL_POINTER, message: "schedule is NULL") }
    }
    guard let handle = Registry.lookup(schedule, as: ScheduleHandle.self) else {
        return callWithoutHandle {
            throw ABIError(status: DESCENT_ERROR_INVALID_HANDLE, message: "schedule is not a live descent schedule (freed, or never created)")
        }
    }
    return locked(handle.owner) { try body(handle) }
}

/// The common part of `call` and `callSchedule`: take the lock (unless this thread must
/// not wait for it), run, record the outcome.
private func locked(_ handle: Handle, allowedInClosure: Bool = false, _ body: () throws -> Void) -> descent_status {
    do {
        return try withHandleLock(handle, allowedInClosure: allowedInClosure) {
            if handle.isFreed {
                return callWithoutHandle {
                    throw ABIError(status: DESCENT_ERROR_INVALID_HANDLE, message: "the optimizer of this schedule has been freed")
                }
            }
            do {
                try body()
                ThreadMessages.clear(for: handle.id)
                return DESCENT_OK
            } catch {
                let (status, message) = describe(error)
                ThreadMessages.set(message, for: handle.id)
                return status
            }
        }
    } catch {
        // Refused without waiting (inside a callback): the message is the handle's, and
        // the thread's too.
        let (_, message) = describe(error)
        ThreadMessages.set(message, for: handle.id)
        return callWithoutHandle { throw error }
    }
}

/// Runs `body` holding `handle`'s lock. Throws instead of waiting when this thread runs
/// a callback of that optimizer (it holds the lock itself), or when the lock's holder
/// waits, through a chain of callbacks, for a lock this thread holds (`LockGraph`).
func withHandleLock<T>(_ handle: Handle, allowedInClosure: Bool = false, _ body: () throws -> T) throws -> T {
    if CallbackScope.isRunning(on: handle) {
        // This thread holds the lock, in the step that runs the closure.
        if allowedInClosure, CallbackScope.innermostIsClosure(of: handle) { return try body() }
        throw reentrantCall
    }
    guard CallbackScope.isActive else { return try handle.lock.withLock(body) }
    guard LockGraph.beginWait(for: handle) else { throw wouldDeadlock }
    return try handle.lock.withLock {
        LockGraph.endWait()
        return try body()
    }
}

/// Runs `body` for a call with no handle; failures go to the thread's last error.
func callWithoutHandle(_ body: () throws -> Void) -> descent_status {
    do {
        try body()
        return DESCENT_OK
    } catch {
        let (status, message) = describe(error)
        ThreadError.set(message)
        return status
    }
}

let invalidHandle = ABIError(status: DESCENT_ERROR_INVALID_HANDLE,
                             message: "opt is not a live descent optimizer (freed, or never created)")

let reentrantCall = ABIError(status: DESCENT_ERROR_REENTRANT_CALL,
                             message: "called from a callback that this optimizer is running")

let wouldDeadlock = ABIError(status: DESCENT_ERROR_REENTRANT_CALL,
                             message: "called from a callback, on an optimizer whose lock is held by a thread that waits for this thread's optimizer: waiting would deadlock")

private func describe(_ error: any Error) -> (descent_status, String) {
    switch error {
    case let error as DescentError: (descent_status(error.kind), error.message)
    case let error as ABIError: (error.status, error.message)
    default: (DESCENT_ERROR_INTERNAL, "internal error: \(error)")
    }
}

/// `pointer`, or a NULL_POINTER failure naming the argument.
func required<T>(_ pointer: UnsafeMutablePointer<T>?, _ name: String) throws -> UnsafeMutablePointer<T> {
    guard let pointer else { throw ABIError(status: DESCENT_ERROR_NULL_POINTER, message: "\(name) is NULL") }
    return pointer
}

func required<T>(_ pointer: UnsafePointer<T>?, _ name: String) throws -> UnsafePointer<T> {
    guard let pointer else { throw ABIError(status: DESCENT_ERROR_NULL_POINTER, message: "\(name) is NULL") }
    return pointer
}

/// The C string `pointer` (a state's name, a path), or a NULL_POINTER failure naming the
/// argument.
func requiredString(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
    String(cString: try required(pointer, name))
}

func requiredBytes(_ pointer: UnsafeMutableRawPointer?, _ name: String) throws -> UnsafeMutableRawPointer {
    guard let pointer else { throw ABIError(status: DESCENT_ERROR_NULL_POINTER, message: "\(name) is NULL") }
    return pointer
}

func requiredBytes(_ pointer: UnsafeRawPointer?, _ name: String) throws -> UnsafeRawPointer {
    guard let pointer else { throw ABIError(status: DESCENT_ERROR_NULL_POINTER, message: "\(name) is NULL") }
    return pointer
}
