#if canImport(Glibc)
import Glibc
#endif

/// One allocation holding the state slots of many parameters, made when a step (or a
/// restore) first needs them: slot-major, in registration order (all `exp_avg` buffers
/// end to end, then all `exp_avg_sq` …), each buffer on a 64-byte boundary. A step then
/// streams each kind of state through contiguous memory, whatever the number of tensors,
/// and a large arena is aligned to 2 MiB and offered to the kernel as huge pages, which
/// spares TLB misses. The optimizer owns its arenas and frees them when it goes.
final class StateArena {
    private let base: UnsafeMutableRawPointer

    /// Huge-page size on x86-64 Linux.
    private static let hugePage = 2 << 20

    /// Allocates and fills the slots `requests` ask for (a parameter and a slot mask each)
    /// and hands each parameter its buffers; throws, with nothing handed out, when memory
    /// runs out. Returns nil when nothing was asked for.
    static func allocate(_ requests: [(parameter: Parameter, slots: UInt8)],
                         _ description: AlgorithmDescription,
                         initialValue: (_ slot: Int, _ parameter: Parameter) -> Float) throws(DescentError) -> StateArena? {
        var layout: [(parameter: Parameter, slot: Int, offset: Int, elements: Int)] = []
        var bytes = 0
        for (slot, kind) in description.state.enumerated() {
            for (parameter, slots) in requests where slots & (1 << slot) != 0 {
                let elements = kind.elements(for: parameter.shape)
                layout.append((parameter, slot, bytes, elements))
                bytes += (elements * MemoryLayout<Float>.stride + 63) / 64 * 64
            }
        }
        guard bytes > 0 else { return nil }
        let alignment = bytes >= hugePage ? hugePage : 64
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, alignment, bytes) == 0, let raw else {
            throw DescentError(.outOfMemory, "cannot allocate \(bytes) bytes of optimizer state")
        }
        if alignment == hugePage { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        for (parameter, slot, offset, elements) in layout {
            let buffer = (raw + offset).bindMemory(to: Float.self, capacity: elements)
            buffer.initialize(repeating: initialValue(slot, parameter), count: elements)
            parameter.adopt(buffer, asSlot: slot)
        }
        return StateArena(base: raw)
    }

    private init(base: UnsafeMutableRawPointer) { self.base = base }

    deinit { free(base) }
}
