#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Each thread's message of its last call on each optimizer, handed out by
/// `descent_last_error`: errno per handle. Only the calling thread reads or replaces its
/// own messages, so no lock guards them, no thread frees a string another is reading
/// (one shared message per handle was a use after free), and reading one never waits
/// for an optimizer. A thread's messages are freed when it exits; those of optimizers
/// freed since are dropped when it next records a failure.
enum ThreadMessages {
    private final class Store {
        var byHandle: [UInt: UnsafeMutablePointer<CChar>] = [:]
        deinit { for message in byHandle.values { free(message) } }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { if let store = $0 { Unmanaged<Store>.fromOpaque(store).release() } }
        return key
    }()

    /// Kept this small by dropping the messages of freed optimizers.
    private static let pruneAbove = 16

    private static var store: Store {
        if let store = pthread_getspecific(key) { return Unmanaged<Store>.fromOpaque(store).takeUnretainedValue() }
        let store = Store()
        pthread_setspecific(key, Unmanaged.passRetained(store).toOpaque())
        return store
    }

    static func set(_ message: String, for handle: UInt) {
        let store = store
        if store.byHandle.count >= pruneAbove {
            for (id, old) in store.byHandle where !Registry.isLive(id) {
                free(old)
                store.byHandle[id] = nil
            }
        }
        free(store.byHandle[handle])
        store.byHandle[handle] = strdup(message)
    }

    /// Called after every successful call: cheap while this thread has no message.
    static func clear(for handle: UInt) {
        guard let pointer = pthread_getspecific(key) else { return }
        let store = Unmanaged<Store>.fromOpaque(pointer).takeUnretainedValue()
        guard !store.byHandle.isEmpty, let old = store.byHandle.removeValue(forKey: handle) else { return }
        free(old)
    }

    /// This thread's message for `handle`, or "".
    static func cString(for handle: UInt) -> UnsafePointer<CChar> {
        guard let pointer = pthread_getspecific(key) else { return emptyCString }
        let store = Unmanaged<Store>.fromOpaque(pointer).takeUnretainedValue()
        return store.byHandle[handle].map { UnsafePointer($0) } ?? emptyCString
    }
}

var emptyCString: UnsafePointer<CChar> { staticCString("") }

/// A string literal's bytes, which the compiler stores NUL-terminated for the life of
/// the process.
func staticCString(_ string: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(string.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// A number for the calling thread, never reused by a later thread (pthread_t values
/// are), by which `LockGraph` records who holds and who waits: a thread created after
/// another exits cannot be mistaken for it.
enum ThreadSerial {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    private static let next = Atomic<UInt>(1)

    static var current: UInt {
        if let value = pthread_getspecific(key) { return UInt(bitPattern: value) }
        let serial = next.add(1, ordering: .relaxed).oldValue
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: serial))
        return serial
    }
}

/// The message of the last failure in this thread that had no valid optimizer handle
/// (descent_create, calls on freed handles, calls refused inside a callback):
/// thread-local, like errno.
enum ThreadError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()

    static func set(_ message: String) {
        free(pthread_getspecific(key))
        pthread_setspecific(key, strdup(message))
    }

    static var cString: UnsafePointer<CChar> {
        guard let message = pthread_getspecific(key) else { return emptyCString }
        return UnsafePointer(message.assumingMemoryBound(to: CChar.self))
    }
}

/// The optimizers this thread is running a caller's callback for, innermost first (a
/// callback may step another optimizer's schedule, whose callback runs inside it). This
/// thread holds each one's lock: a call on any of them from inside would wait for itself,
/// so it is refused instead. Thread-local, so no other thread is affected.
enum CallbackScope {
    private final class Frame {
        let handle: Handle
        let outer: Frame?
        /// A step's closure (descent_step_closure), not a schedule's lr_lambda.
        let isClosure: Bool

        init(_ handle: Handle, outer: Frame?, isClosure: Bool) {
            self.handle = handle
            self.outer = outer
            self.isClosure = isClosure
        }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    private static var innermost: Frame? {
        pthread_getspecific(key).map { Unmanaged<Frame>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Whether this thread is inside any callback (and so holds some optimizer's lock).
    static var isActive: Bool { pthread_getspecific(key) != nil }

    static func isRunning(on handle: Handle) -> Bool {
        var frame = innermost
        while let current = frame {
            if current.handle === handle { return true }
            frame = current.outer
        }
        return false
    }

    /// Whether the innermost callback is `handle`'s step closure.
    static func innermostIsClosure(of handle: Handle) -> Bool {
        guard let frame = innermost else { return false }
        return frame.isClosure && frame.handle === handle
    }

    /// Runs `body` (which calls the caller's function) marked as running for `handle`,
    /// whose lock this thread holds.
    static func run<T>(for handle: Handle, isClosure: Bool = false, _ body: () -> T) -> T {
        let frame = Frame(handle, outer: innermost, isClosure: isClosure)
        pthread_setspecific(key, Unmanaged.passUnretained(frame).toOpaque())
        LockGraph.enterCallback(holding: handle)
        defer {
            LockGraph.leaveCallback(holding: handle)
            pthread_setspecific(key, frame.outer.map { Unmanaged.passUnretained($0).toOpaque() })
            withExtendedLifetime(frame) {}
        }
        return body()
    }
}
