import KernelInterface
#if canImport(Glibc)
import Glibc
#endif

/// State to make for one parameter: the slots (bit i = slot i) and the format of its
/// element-wise ones. A slot the parameter already holds in another format is moved
/// into the new one, its values converted.
struct StateRequest {
    let parameter: Parameter
    let slots: UInt8
    let format: ElementFormat
}

/// One allocation holding the state slots of many parameters, made when a step (or a
/// restore) first needs them: slot-major, in registration order (all `exp_avg` buffers
/// end to end, then all `exp_avg_sq` …), each buffer on a 64-byte boundary, in its
/// format. A step then streams each kind of state through contiguous memory, whatever
/// the number of tensors, and a large arena is aligned to 2 MiB and offered to the kernel
/// as huge pages, which spares TLB misses. The optimizer owns its arenas and frees them
/// when it goes: memory a caller was given stays valid that long, even after state moved
/// to another format (and so to another arena).
final class StateArena {
    private let base: UnsafeMutableRawPointer

    /// Huge-page size on x86-64 Linux.
    private static let hugePage = 2 << 20

    /// Allocates the slots `requests` ask for, fills each (`initialize` writes a new
    /// slot's first values in its format; a slot that replaces one gets its values) and
    /// hands each parameter its buffers; throws, with nothing handed out, when memory runs
    /// out. Returns nil when nothing was asked for.
    static func allocate(_ requests: [StateRequest], _ description: AlgorithmDescription,
                         initialize: (_ slot: Int, _ parameter: Parameter, UnsafeMutableRawPointer, ElementFormat) -> Void)
        throws(DescentError) -> StateArena? {
        var layout: [(request: StateRequest, slot: Int, offset: Int, elements: Int, format: ElementFormat)] = []
        var bytes = 0
        for (slot, kind) in description.state.enumerated() {
            for request in requests where request.slots & (1 << slot) != 0 {
                let elements = kind.elements(for: request.parameter.shape)
                let format = kind.shape == .elementwise ? request.format : .float32  // a master copy too
                layout.append((request, slot, bytes, elements, format))
                bytes += (format.byteCount(elements) + 63) / 64 * 64
            }
        }
        guard bytes > 0 else { return nil }
        let alignment = bytes >= hugePage ? hugePage : 64
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, alignment, bytes) == 0, let raw else {
            throw DescentError(.outOfMemory, "cannot allocate \(bytes) bytes of optimizer state")
        }
        if alignment == hugePage { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        // Padding included (8-bit slots have some between codes and absmax values), so that
        // a checkpoint of the state holds no stale memory.
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        // Filled before any is adopted: a parameter's old slots are read in their format.
        for (request, slot, offset, elements, format) in layout {
            let parameter = request.parameter, signed = parameter.signedSlots & (1 << slot) != 0
            if let old = parameter.slots[slot] {
                StateCoding.convert(UnsafeRawPointer(old), from: parameter.format(ofSlot: slot), to: raw + offset,
                                    format, count: elements, signed: signed)
            } else {
                initialize(slot, parameter, raw + offset, format)
            }
        }
        for (request, slot, offset, _, _) in layout {
            request.parameter.adopt(raw + offset, asSlot: slot, format: request.format)
        }
        return StateArena(base: raw)
    }

    private init(base: UnsafeMutableRawPointer) { self.base = base }

    deinit { free(base) }
}

/// Whole slots in any format, block by block through float32, with the arithmetic the
/// kernels use (`decodeState`, `encodeState`), so that state converted here is the state
/// a step would have written.
enum StateCoding {
    /// Writes `count` elements of `format`, all `value`.
    static func fill(_ memory: UnsafeMutableRawPointer, _ format: ElementFormat, count: Int, signed: Bool,
                     with value: Float) {
        switch format {
        case .float32: return memory.bindMemory(to: Float.self, capacity: count).update(repeating: value, count: count)
        case .bfloat16: return memory.bindMemory(to: UInt16.self, capacity: count).update(repeating: bfloat16(value),
                                                                                          count: count)
        case .int8Blockwise, .float16: break
        }
        withBlocks(count) { block, values in
            values.update(repeating: value, count: block.count)
            encodeState(values, format, count: count, signed: signed, elements: block, into: memory, .portable)
        }
    }

    /// Copies a slot of `count` elements from one format to another.
    static func convert(_ source: UnsafeRawPointer, from sourceFormat: ElementFormat,
                        to memory: UnsafeMutableRawPointer, _ format: ElementFormat, count: Int, signed: Bool) {
        withBlocks(count) { block, values in
            decodeState(source, sourceFormat, count: count, signed: signed, elements: block, into: values, .portable)
            encodeState(values, format, count: count, signed: signed, elements: block, into: memory, .portable)
        }
    }

    /// Reads a slot as float32.
    static func read(_ memory: UnsafeRawPointer, _ format: ElementFormat, count: Int, signed: Bool,
                     into values: UnsafeMutablePointer<Float>) {
        withBlocks(count) { block, _ in
            decodeState(memory, format, count: count, signed: signed, elements: block, into: values + block.lowerBound,
                        .portable)
        }
    }

    /// Writes a slot from float32 values.
    static func write(_ values: UnsafePointer<Float>, to memory: UnsafeMutableRawPointer, _ format: ElementFormat,
                      count: Int, signed: Bool) {
        withBlocks(count) { block, _ in
            encodeState(values + block.lowerBound, format, count: count, signed: signed, elements: block, into: memory,
                        .portable)
        }
    }

    /// Calls `body` with each block of `count` elements and a block of float32 scratch.
    private static func withBlocks(_ count: Int, _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let size = Blockwise8Bit.blockSize
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: size)
        defer { scratch.deallocate() }
        for first in stride(from: 0, to: count, by: size) {
            body(first ..< min(first + size, count), scratch)
        }
    }
}
