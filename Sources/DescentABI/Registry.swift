import Descent

/// A live optimizer behind a C handle, with the lock that serializes calls on it.
final class Handle: @unchecked Sendable {
    let optimizer: Optimizer
    let lock = Lock()
    /// The handle's registry id, under which each thread keeps its message of its last
    /// call on it (schedule calls report there too; `ThreadMessages`).
    private(set) var id: UInt = 0
    /// Set by descent_free, under the lock: its schedules' handles stop working.
    var isFreed = false

    private init(_ optimizer: Optimizer) { self.optimizer = optimizer }

    /// A handle for `optimizer`, in the registry.
    static func register(_ optimizer: Optimizer) -> OpaquePointer {
        let handle = Handle(optimizer)
        let pointer = Registry.insert(handle)
        handle.id = UInt(bitPattern: pointer)
        return pointer
    }
}

/// A live schedule behind a C handle. It keeps its optimizer's handle, whose lock and
/// last-error message it shares.
final class ScheduleHandle: @unchecked Sendable {
    let owner: Handle
    let schedule: Schedule

    init(_ owner: Handle, _ schedule: Schedule) {
        self.owner = owner
        self.schedule = schedule
    }
}

/// Maps C handles to live objects. A handle is a never-reused id dressed as a pointer,
/// not an address: Descent never dereferences what the caller passes, so a freed or
/// forged handle (or a schedule passed as an optimizer) is detected instead of crashing
/// the process.
enum Registry {
    private static let lock = Lock()
    nonisolated(unsafe) private static var live: [UInt: AnyObject] = [:]
    nonisolated(unsafe) private static var nextID: UInt = 1

    static func insert(_ object: AnyObject) -> OpaquePointer {
        lock.withLock {
            let id = nextID
            nextID += 1
            live[id] = object
            return OpaquePointer(bitPattern: id << 4)!
        }
    }

    /// Whether the handle with registry id `id` (its pointer's bits) is live.
    static func isLive(_ id: UInt) -> Bool {
        guard let pointer = OpaquePointer(bitPattern: id) else { return false }
        return lookup(pointer, as: AnyObject.self) != nil
    }

    static func lookup<T: AnyObject>(_ pointer: OpaquePointer, as type: T.Type = T.self) -> T? {
        guard let id = id(of: pointer) else { return nil }
        return lock.withLock { live[id] as? T }
    }

    /// Removes the object if it is a `T`, and returns it. Callers may hold a handle's
    /// lock here (the lock order is: handle, then registry).
    static func remove<T: AnyObject>(_ pointer: OpaquePointer, as type: T.Type) -> T? {
        guard let id = id(of: pointer) else { return nil }
        return lock.withLock { () -> T? in
            guard let object = live[id] as? T else { return nil }
            live[id] = nil
            return object
        }
    }

    private static func id(of pointer: OpaquePointer) -> UInt? {
        let bits = UInt(bitPattern: pointer)
        return bits & 0xF == 0 ? bits >> 4 : nil
    }
}
