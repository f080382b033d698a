import Descent

/// Deadlock detection for calls made from inside callbacks. Outside a callback a thread
/// holds at most one optimizer's lock and waits for none while holding it, so no cycle
/// can form. Inside one (an lr_lambda) it holds its optimizer's lock while the callback
/// may call another optimizer: two threads whose callbacks call each other's optimizers
/// would wait for each other forever. Such threads are recorded here: which optimizer
/// each holds for a callback, and which one each waits for. A thread about to wait walks
/// holder → awaited → holder …; if the walk comes back to itself, waiting would close a
/// cycle and its call is refused instead. Every record and walk happens under one lock,
/// so of two threads closing a cycle, the second one sees it.
enum LockGraph {
    private static let lock = Lock()
    /// Optimizers whose lock a thread holds while it runs their callback → that thread.
    nonisolated(unsafe) private static var holders: [ObjectIdentifier: UInt] = [:]
    /// Threads inside a callback that wait for an optimizer's lock → that optimizer.
    nonisolated(unsafe) private static var awaited: [UInt: ObjectIdentifier] = [:]

    static func enterCallback(holding handle: Handle) {
        let thread = ThreadSerial.current
        lock.withLock { holders[ObjectIdentifier(handle)] = thread }
    }

    static func leaveCallback(holding handle: Handle) {
        _ = lock.withLock { holders.removeValue(forKey: ObjectIdentifier(handle)) }
    }

    /// Records that this thread (inside a callback) is about to wait for `handle`'s
    /// lock; false, recording nothing, if that wait would never end.
    static func beginWait(for handle: Handle) -> Bool {
        let thread = ThreadSerial.current
        return lock.withLock {
            var next = ObjectIdentifier(handle)
            // Each step moves to another thread; more steps than threads means a cycle
            // that does not pass through this thread, which this wait does not close.
            for _ in 0 ... awaited.count {
                guard let holder = holders[next] else { break }
                if holder == thread { return false }
                guard let wanted = awaited[holder] else { break }
                next = wanted
            }
            awaited[thread] = ObjectIdentifier(handle)
            return true
        }
    }

    /// Called once the lock `beginWait` announced is held.
    static func endWait() {
        let thread = ThreadSerial.current
        _ = lock.withLock { awaited.removeValue(forKey: thread) }
    }
}
