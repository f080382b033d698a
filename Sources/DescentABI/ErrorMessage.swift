#if canImport(Glibc)
import Glibc
#endif

/// A C string owned by Descent and handed out by `descent_last_error`: it stays valid
/// until it is replaced. Empty means the last call succeeded.
struct ErrorMessage {
    private var storage: UnsafeMutablePointer<CChar>?

    mutating func set(_ message: String) {
        free(storage)
        storage = strdup(message)
    }

    mutating func clear() {
        free(storage)
        storage = nil
    }

    var cString: UnsafePointer<CChar> {
        if let storage { return UnsafePointer(storage) }
        return emptyCString
    }

    func release() { free(storage) }
}

var emptyCString: UnsafePointer<CChar> { staticCString("") }

/// A string literal's bytes, which the compiler stores NUL-terminated for the life of
/// the process.
func staticCString(_ string: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(string.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The message of the last failure in this thread that had no valid optimizer handle
/// (descent_create, calls on freed handles): thread-local, like errno.
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

/// Which optimizer this thread is running a caller's callback for, if any: a call on
/// that optimizer from inside the callback would wait for a lock this thread holds, so
/// it is refused instead. Thread-local, so no other thread is affected.
enum CallbackScope {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static func isRunning(on handle: Handle) -> Bool {
        pthread_getspecific(key) == Unmanaged.passUnretained(handle).toOpaque()
    }

    /// Runs `body` (which calls the caller's function) marked as running for `handle`.
    static func run<T>(for handle: Handle, _ body: () -> T) -> T {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, Unmanaged.passUnretained(handle).toOpaque())
        defer { pthread_setspecific(key, previous) }
        return body()
    }
}
