#if canImport(Glibc)
import Glibc
#endif

/// One float32 vector with an element per element of every parameter (torch's
/// `flat_grad`, `d`, a history entry), owned by the engine.
final class FlatVector {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    /// Throws, allocating nothing, when memory runs out (malloc's NULL, never a trap).
    init(count: Int) throws(DescentError) {
        var memory: UnsafeMutableRawPointer?
        let bytes = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !bytes.overflow, posix_memalign(&memory, 64, max(bytes.partialValue, 64)) == 0, let memory else {
            throw DescentError(.outOfMemory, "cannot allocate \(count) floats for L-BFGS's vectors")
        }
        pointer = memory.bindMemory(to: Float.self, capacity: count)
        self.count = count
    }

    deinit { free(pointer) }
}

/// The flat index space of an optimizer's parameters in registration order (torch's
/// `_gather_flat_grad` order), cut into fixed chunks that threads claim. A reduction
/// adds its chunks' partial sums in chunk order, so every thread count gives the same
/// bits; chunks are multiples of 16 elements, so lanes line up across vectors.
struct FlatLayout {
    static let chunkElements = 1 << 15

    let parameters: [Parameter]
    /// Where each parameter starts in the flat index space.
    let offsets: [Int]
    let count: Int

    init(_ parameters: [Parameter]) {
        self.parameters = parameters
        var offsets: [Int] = [], total = 0
        for parameter in parameters {
            offsets.append(total)
            total += parameter.count
        }
        self.offsets = offsets
        count = total
    }

    var chunkCount: Int { (count + Self.chunkElements - 1) / Self.chunkElements }

    func chunk(_ index: Int) -> Range<Int> {
        index * Self.chunkElements ..< min((index + 1) * Self.chunkElements, count)
    }

    /// Calls `body(parameter, element range in the parameter, flat offset of its first
    /// element)` for each parameter's part of `range`, in order.
    func forEachPart(of range: Range<Int>, _ body: (Parameter, Range<Int>, Int) -> Void) {
        // The last parameter that starts at or before range.lowerBound.
        var low = 0, high = offsets.count
        while high - low > 1 {
            let mid = (low + high) / 2
            if offsets[mid] <= range.lowerBound { low = mid } else { high = mid }
        }
        var i = low
        while i < parameters.count, offsets[i] < range.upperBound {
            let start = max(range.lowerBound, offsets[i]) - offsets[i]
            let end = min(range.upperBound - offsets[i], parameters[i].count)
            if start < end { body(parameters[i], start ..< end, offsets[i] + start) }
            i += 1
        }
    }

    /// Runs `body` over every chunk on the step's threads and returns the chunks'
    /// results in chunk order.
    func map<R>(_ initial: R, _ body: (Range<Int>) -> R) -> [R] {
        var results = [R](repeating: initial, count: chunkCount)
        let threads = ThreadPool.usefulThreads(for: count)
        results.withUnsafeMutableBufferPointer { out in
            let slots = out.baseAddress!
            ThreadPool.shared.runChunks(chunkCount, threads: threads) { chunk in slots[chunk] = body(self.chunk(chunk)) }
        }
        return results
    }

    /// Runs `body` over every chunk on the step's threads.
    func forEach(_ body: (Range<Int>) -> Void) {
        _ = map(()) { body($0) }
    }

    /// `forEachPart` over every chunk, on the step's threads.
    func forEachPart(_ body: (Parameter, Range<Int>, Int) -> Void) {
        forEach { range in forEachPart(of: range, body) }
    }

    /// Σ of the chunks' double partials, in chunk order.
    func sum(_ body: (Range<Int>) -> Double) -> Double {
        map(0.0, body).reduce(0, +)
    }
}

/// The maximum of partial maxima, NaN if any is NaN (torch's `max()`).
func nanMax(_ values: [Float]) -> Float {
    values.reduce(0) { $0.isNaN || $1.isNaN ? .nan : max($0, $1) }
}
