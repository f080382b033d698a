#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The messages of the last failed calls on one optimizer handle, one per thread, handed
/// out by `descent_last_error`. A thread's message is replaced only by that thread's own
/// next call on the handle, so a pointer another thread holds is never freed under it (a
/// single shared message was: a reader on one thread, a failing call on another, a use
/// after free). A thread whose last call on the handle succeeded has no entry.
struct ErrorMessages {
    private var byThread: [UInt: UnsafeMutablePointer<CChar>] = [:]

    mutating func set(_ message: String) {
        let thread = ThreadSerial.current
        free(byThread[thread])
        byThread[thread] = strdup(message)
    }

    /// Called after every successful call: cheap while no thread has a message.
    mutating func clear() {
        guard !byThread.isEmpty, let old = byThread.removeValue(forKey: ThreadSerial.current) else { return }
        free(old)
    }

    /// This thread's message, or "".
    var cString: UnsafePointer<CChar> {
        byThread[ThreadSerial.current].map { UnsafePointer($0) } ?? emptyCString
    }

    func release() {
        for message in byThread.values { free(message) }
    }
}

var emptyCString: UnsafePointer<CChar> { staticCString("") }

/// A string literal's bytes, which the compiler stores NUL-terminated for the life of
/// the process.
func staticCString(_ string: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(string.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// A number for the calling thread, never reused by a later thread (pthread_t values
/// are): a thread's messages are not inherited by a thread created after it exits.
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

        init(_ handle: Handle, outer: Frame?) {
            self.handle = handle
            self.outer = outer
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

    /// Runs `body` (which calls the caller's function) marked as running for `handle`,
    /// whose lock this thread holds.
    static func run<T>(for handle: Handle, _ body: () -> T) -> T {
        let frame = Frame(handle, outer: innermost)
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
