import Descent

/// A live optimizer behind a C handle, with the lock that serializes calls on it and
/// the message of its last failed call.
final class Handle: @unchecked Sendable {
    let optimizer: Optimizer
    let lock = Lock()
    var lastError = ErrorMessage()

    init(_ optimizer: Optimizer) { self.optimizer = optimizer }

    deinit { lastError.release() }
}

/// Maps C handles to live optimizers. A handle is a never-reused id dressed as a
/// pointer, not an address: Descent never dereferences what the caller passes, so a
/// freed or forged handle is detected instead of crashing the process.
enum Registry {
    private static let lock = Lock()
    nonisolated(unsafe) private static var live: [UInt: Handle] = [:]
    nonisolated(unsafe) private static var nextID: UInt = 1

    static func insert(_ handle: Handle) -> OpaquePointer {
        lock.withLock {
            let id = nextID
            nextID += 1
            live[id] = handle
            return OpaquePointer(bitPattern: id << 4)!
        }
    }

    static func lookup(_ pointer: OpaquePointer) -> Handle? {
        guard let id = id(of: pointer) else { return nil }
        return lock.withLock { live[id] }
    }

    static func remove(_ pointer: OpaquePointer) -> Handle? {
        guard let id = id(of: pointer) else { return nil }
        return lock.withLock { live.removeValue(forKey: id) }
    }

    private static func id(of pointer: OpaquePointer) -> UInt? {
        let bits = UInt(bitPattern: pointer)
        return bits & 0xF == 0 ? bits >> 4 : nil
    }
}
