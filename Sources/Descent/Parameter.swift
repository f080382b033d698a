import KernelInterface
#if canImport(Glibc)
import Glibc
#endif

/// One registered parameter: the caller's buffers (never owned) and the optimizer state
/// Descent owns for it.
final class Parameter {
    let param: UnsafeMutablePointer<Float>
    var grad: UnsafeMutablePointer<Float>?
    let count: Int
    let group: Int
    /// Steps that updated this parameter (torch's `state["step"]`).
    var step: Int64 = 0
    /// Adagrad's starting accumulator, fixed when the parameter is registered.
    let initialAccumulator: Float
    /// State slots, allocated on first use; 64-byte aligned.
    private(set) var slots: [UnsafeMutablePointer<Float>?] = [nil, nil, nil]
    /// Slots that some step has already written (bit i = slot i).
    var writtenSlots: UInt8 = 0

    init(param: UnsafeMutablePointer<Float>, grad: UnsafeMutablePointer<Float>?, count: Int,
         group: Int, initialAccumulator: Float) {
        self.param = param
        self.grad = grad
        self.count = count
        self.group = group
        self.initialAccumulator = initialAccumulator
    }

    deinit {
        for slot in slots { free(slot) }
    }

    /// Allocates the slots in `mask` that do not exist yet, filled as `rule` starts them.
    /// Throws (with no slot half-made) when memory runs out.
    func allocateSlots(_ mask: UInt8, for rule: any UpdateRule.Type) throws(DescentError) {
        for slot in 0..<slots.count where mask & (1 << slot) != 0 && slots[slot] == nil {
            var raw: UnsafeMutableRawPointer?
            let bytes = count * MemoryLayout<Float>.stride
            guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
                throw DescentError(.outOfMemory,
                                   "cannot allocate \(bytes) bytes of optimizer state")
            }
            let buffer = raw.bindMemory(to: Float.self, capacity: count)
            buffer.initialize(repeating: rule.initialValue(ofSlot: slot, initialAccumulator: initialAccumulator),
                              count: count)
            slots[slot] = buffer
        }
    }

    /// All of this parameter's elements, for a step with gradient `grad`.
    func span(grad: UnsafePointer<Float>, slotsNeeded: UInt8) -> Span {
        Span(param: param, grad: grad, slot0: slots[0], slot1: slots[1], slot2: slots[2],
             start: 0, end: count, count: count, freshSlots: slotsNeeded & ~writtenSlots)
    }

    var byteRange: Range<UInt> { Parameter.byteRange(param, count) }

    static func byteRange(_ pointer: UnsafePointer<Float>, _ count: Int) -> Range<UInt> {
        let start = UInt(bitPattern: pointer)
        return start..<(start + UInt(count) * UInt(MemoryLayout<Float>.stride))
    }
}
