#if canImport(Glibc)
import Glibc
#endif

/// The buffers a step needs for its own sums and copies (Adafactor's, Muon's), taken
/// together before the step changes anything: all of them or none, with an error that
/// says what they were for; freed together.
final class ScratchMemory {
    private let buffers: [UnsafeMutableRawPointer]

    /// One 64-byte-aligned buffer per entry of `bytes` (an empty one still gets a line),
    /// for `purpose` ("Adafactor's sums").
    init(bytes: [Int], for purpose: String) throws(DescentError) {
        let sizes = bytes.map { max(64, ($0 + 63) / 64 * 64) }
        let raw = sizes.map { aligned_alloc(64, $0) }
        guard raw.allSatisfy({ $0 != nil }) else {
            raw.forEach { free($0) }
            throw DescentError(.outOfMemory, "cannot allocate \(sizes.reduce(0, +)) bytes for \(purpose)")
        }
        buffers = raw.map { $0! }
    }

    deinit {
        buffers.forEach { free($0) }
    }

    /// Buffer `index`, as `count` elements of `type`.
    func buffer<T>(_ index: Int, as type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        buffers[index].bindMemory(to: type, capacity: count)
    }

    /// Buffer `index`, untyped (oneDNN's scratchpad).
    func raw(_ index: Int) -> UnsafeMutableRawPointer { buffers[index] }
}
