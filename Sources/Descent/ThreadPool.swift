#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A persistent pool of worker threads. `run(threads:)` calls a body on the calling
/// thread and on up to `threads - 1` workers at once and returns when all have finished;
/// the workers then sleep until the next run. The bodies claim their work themselves
/// (see `StepPlan`), so a run is correct with any number of them. Workers are started on
/// first need and live as long as the process. Runs from different threads are
/// serialized.
final class ThreadPool: @unchecked Sendable {
    static let shared = ThreadPool()

    /// Fewer elements than this per thread, and waking a worker costs more than it saves.
    private static let minElementsPerThread = 64 * 1024

    /// The threads worth running for a pass over `elements` elements: at most `threads`,
    /// at least one, and one per `minElementsPerThread` elements.
    static func usefulThreads(for elements: Int, of threads: Int = Runtime.threadCount) -> Int {
        min(threads, max(1, elements / minElementsPerThread))
    }

    /// Serializes runs, so that two optimizers stepped on two threads share the workers.
    private let runLock = Lock()
    /// Guards everything below; workers wait on its condition.
    private var state = Lock()
    private var workers = 0
    private var generation = 0
    private var participants = 0
    private var pending = 0
    private var job: (() -> Void)?
    /// The process that started the workers: a forked child has none of them.
    private var owner = getpid()

    /// Calls `body` on the calling thread and on up to `threads - 1` workers, and waits
    /// for all. `body` must not call `run` itself.
    func run(threads: Int, _ body: () -> Void) {
        guard threads > 1 else { return body() }
        runLock.withLock {
            if owner != getpid() { forgetParentWorkers() }
            withoutActuallyEscaping(body) { body in
                state.withLock {
                    while workers < threads - 1, startWorker(index: workers + 1) {}
                    job = body
                    participants = min(threads - 1, workers)
                    pending = participants
                    generation += 1
                    state.broadcast()
                }
                body()
                state.withLock {
                    while pending > 0 { state.wait() }
                    job = nil
                }
            }
        }
    }

    /// Calls `body` once for each of `chunkCount` chunks, on up to `threads` threads.
    /// Each thread works through its own contiguous share of the chunks, in order (its
    /// memory streams stay sequential, as the hardware prefetchers like), then helps
    /// with the others' rest.
    func runChunks(_ chunkCount: Int, threads: Int, _ body: (Int) -> Void) {
        let shares = max(1, min(threads, chunkCount))
        guard shares > 1 else {
            for chunk in 0 ..< chunkCount { body(chunk) }
            return
        }
        let cursors = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: shares)
        for share in 0 ..< shares { (cursors + share).initialize(to: Atomic(chunkCount * share / shares)) }
        defer {
            _ = cursors.deinitialize(count: shares)
            cursors.deallocate()
        }
        let joined = Atomic<Int>(0)
        run(threads: shares) {
            let first = joined.add(1, ordering: .relaxed).oldValue
            for k in 0 ..< shares {
                let share = (first + k) % shares
                let end = chunkCount * (share + 1) / shares
                while true {
                    let chunk = cursors[share].add(1, ordering: .relaxed).oldValue
                    guard chunk < end else { break }
                    body(chunk)
                }
            }
        }
    }

    /// In a child made by fork(), which has none of the parent's threads: start afresh.
    /// The old mutex and condition may still count the parent's workers as waiters, so
    /// they are left as they are (destroying such a condition blocks), a few bytes once.
    private func forgetParentWorkers() {
        _ = Unmanaged.passRetained(state)
        state = Lock()
        workers = 0
        generation = 0
        owner = getpid()
    }

    /// Called with `state` held. False when no thread could be made: the run goes on
    /// with the workers there are.
    private func startWorker(index: Int) -> Bool {
        // The worker starts from the current generation: the run starting now is its first.
        let worker = WorkerContext(pool: self, index: index, seen: generation)
        let context = Unmanaged.passRetained(worker).toOpaque()
        var thread = pthread_t()
        guard pthread_create(&thread, nil, { raw in
            let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
            context.pool.workerLoop(index: context.index, seen: context.seen)
            return nil
        }, context) == 0 else {
            Unmanaged<WorkerContext>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        workers += 1
        return true
    }

    private func workerLoop(index: Int, seen: Int) {
        var seen = seen
        while true {
            guard runNextJob(index: index, seen: &seen) else { continue }
            state.withLock {
                pending -= 1
                if pending == 0 { state.broadcast() }
            }
        }
    }

    /// Waits for the next run and does its job if this worker takes part. The job's
    /// closure is released when this returns, before the run is told the worker is done
    /// (`withoutActuallyEscaping` in `run` checks that nobody holds it after).
    private func runNextJob(index: Int, seen: inout Int) -> Bool {
        let work: (() -> Void)? = state.withLock {
            while generation == seen { state.wait() }
            seen = generation
            return index <= participants ? job : nil
        }
        guard let work else { return false }
        work()
        return true
    }
}

private final class WorkerContext {
    let pool: ThreadPool
    let index: Int
    let seen: Int
    init(pool: ThreadPool, index: Int, seen: Int) {
        self.pool = pool
        self.index = index
        self.seen = seen
    }
}
