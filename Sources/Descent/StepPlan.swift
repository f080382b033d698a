import KernelInterface

/// How a step splits its work: the elements of all parameters of all groups, laid end to
/// end, cut into fixed chunks that the threads claim (see `run`). A chunk may hold
/// the tail of one parameter and many small ones whole, so a model with thousands of
/// small tensors pays per chunk, not per tensor. The cuts depend only on the parameters,
/// never on the thread count; each parameter starts at a multiple of its state format's
/// layout granularity in the laid-out order (16 float32, a whole block of 8-bit state),
/// and so does every cut (a chunk is a multiple of every granularity), so a cut inside a
/// parameter falls on a 64-byte boundary of it and never inside a quantization block.
struct StepPlan<Scalars> {
    /// Elements per chunk: 64 KiB of each buffer, so a chunk's streams stay in L2.
    static var chunkElements: Int { 16 * 1024 }

    private struct Entry {
        var span: Span
        /// Where the parameter starts in the laid-out order.
        var offset: Int
        var scalars: Int
    }

    private var entries: [Entry] = []
    private var scalars: [Scalars] = []
    private var laidOut = 0
    private var elements = 0

    /// Makes room for `count` spans at once (a step adds one per parameter).
    mutating func reserve(_ count: Int) { entries.reserveCapacity(count) }

    /// Adds the per-step scalars the next spans use.
    mutating func addScalars(_ s: Scalars) { scalars.append(s) }

    /// Adds a whole parameter (its span covers all its elements), updated with the
    /// scalars added last.
    mutating func add(_ span: Span) {
        let granularity = span.stateFormat.layoutGranularity
        laidOut = (laidOut + granularity - 1) / granularity * granularity
        entries.append(Entry(span: span, offset: laidOut, scalars: scalars.count - 1))
        let count = span.end - span.start
        laidOut += (count + 15) / 16 * 16
        elements += count
    }

    /// Elements of all parameters together.
    var elementCount: Int { elements }

    /// The number of chunks: cuts that depend only on the parameters, never on threads.
    var chunkCount: Int { (laidOut + Self.chunkElements - 1) / Self.chunkElements }

    /// Runs `kernel` over every element on up to `threads` threads.
    func run(_ kernel: (Scalars, Span) -> Void, threads: Int) {
        runChunks(threads: threads) { chunk in forEachSpan(inChunk: chunk, kernel) }
    }

    /// Calls `body` once for every chunk, on up to `threads` threads. Each thread works
    /// through its own contiguous share of the chunks, in order (the memory streams stay
    /// sequential, as the hardware prefetchers like), then helps with the others' rest.
    func runChunks(threads: Int, _ body: (Int) -> Void) {
        ThreadPool.shared.runChunks(chunkCount, threads: ThreadPool.usefulThreads(for: elements, of: threads), body)
    }

    /// Calls `body` with each span of `chunk`, in the laid-out order.
    func forEachSpan(inChunk chunk: Int, _ body: (Scalars, Span) -> Void) {
        let low = chunk * Self.chunkElements, high = low + Self.chunkElements
        var i = firstEntry(endingAfter: low)
        while i < entries.count, entries[i].offset < high {
            let entry = entries[i]
            var span = entry.span
            span.start = max(low - entry.offset, 0)
            span.end = min(high - entry.offset, entry.span.end)
            if span.start < span.end { body(scalars[entry.scalars], span) }
            i += 1
        }
    }

    /// The first entry whose laid-out elements reach past `position` (binary search).
    private func firstEntry(endingAfter position: Int) -> Int {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].offset + entries[mid].span.end <= position {
                low = mid + 1
            } else {
                high = mid
            }
        }
        return low
    }
}
