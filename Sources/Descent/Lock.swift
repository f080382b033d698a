#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex on the heap (a Swift stored property has no stable address), with a
/// condition variable for the thread pool's waits.
public final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Inside `withLock`: releases the lock until `broadcast`, then holds it again. May
    /// wake spuriously; callers wait in a loop over their condition.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Wakes every thread in `wait`.
    func broadcast() { pthread_cond_broadcast(condition) }
}
