#if canImport(Glibc)
import Glibc
#endif
import CPUFeatures
import KernelInterface
import KernelsAVX2
import KernelsAVX512
import KernelsPortable

/// Process-wide execution settings: which instruction set's kernels run, and on how many
/// threads. Both start from the environment (`DESCENT_ISA`, `DESCENT_NUM_THREADS`) or,
/// without it, from the machine: the best instruction set the CPU supports and the CPUs
/// in the process's affinity mask. Neither changes any result: every instruction set and
/// any thread count give the same bits.
public enum Runtime {
    private static let lock = Lock()
    nonisolated(unsafe) private static var table = initialKernels()
    /// DESCENT_NUM_THREADS, else the affinity mask's CPU count: read once, at load.
    private static let defaultThreads = initialThreadCount()
    nonisolated(unsafe) private static var threads = defaultThreads

    /// Explicit thread counts above this are refused.
    public static let maxThreads = 1024

    // MARK: Instruction set

    /// Whether this CPU (and its operating system) can run `isa`'s kernels.
    public static func isSupported(_ isa: InstructionSet) -> Bool {
        switch isa {
        case .portable: true
        case .avx2: cpu_features_has_avx2_fma() != 0
        case .avx512: cpu_features_has_avx512() != 0
        }
    }

    /// The fastest instruction set this CPU supports.
    public static var bestInstructionSet: InstructionSet {
        InstructionSet.allCases.last(where: isSupported) ?? .portable
    }

    /// The instruction set whose kernels run now.
    public static var instructionSet: InstructionSet { kernels.instructionSet }

    /// Switches every later step to `isa`'s kernels.
    public static func setInstructionSet(_ isa: InstructionSet) throws(DescentError) {
        guard isSupported(isa) else {
            throw DescentError(.unsupported, "this CPU does not support \(isa.name) (best: \(bestInstructionSet.name))")
        }
        lock.withLock { table = kernelTable(for: isa) }
    }

    static var kernels: KernelTable { lock.withLock { table } }

    private static func kernelTable(for isa: InstructionSet) -> KernelTable {
        switch isa {
        case .portable: KernelsPortable.kernelTable
        case .avx2: KernelsAVX2.kernelTable
        case .avx512: KernelsAVX512.kernelTable
        }
    }

    private static func initialKernels() -> KernelTable {
        guard let name = environment("DESCENT_ISA") else { return kernelTable(for: bestInstructionSet) }
        guard let isa = InstructionSet.allCases.first(where: { $0.name == name.lowercased() }) else {
            warn("DESCENT_ISA=\(name) is not one of portable, avx2, avx512; using \(bestInstructionSet.name)")
            return kernelTable(for: bestInstructionSet)
        }
        guard isSupported(isa) else {
            warn("DESCENT_ISA=\(name): this CPU does not support it; using \(bestInstructionSet.name)")
            return kernelTable(for: bestInstructionSet)
        }
        return kernelTable(for: isa)
    }

    // MARK: Threads

    /// The CPUs this process may run on (its affinity mask), at least 1.
    public static var affinityCPUCount: Int { Int(cpu_features_affinity_count()) }

    /// The threads a step may use (the calling thread included).
    public static var threadCount: Int { lock.withLock { threads } }

    /// Sets the threads later steps may use; 0 restores the default (DESCENT_NUM_THREADS,
    /// else the affinity mask's CPU count), as the header documents.
    public static func setThreadCount(_ count: Int) throws(DescentError) {
        guard (0...maxThreads).contains(count) else {
            throw DescentError(.invalidArgument, "thread count must be in 0...\(maxThreads) (0 = the default), got \(count)")
        }
        let resolved = count == 0 ? defaultThreads : count
        lock.withLock { threads = resolved }
    }

    private static func initialThreadCount() -> Int {
        guard let text = environment("DESCENT_NUM_THREADS") else { return sharedCPUCount() }
        guard let count = Int(text), (1...maxThreads).contains(count) else {
            warn("DESCENT_NUM_THREADS=\(text) is not a thread count in 1...\(maxThreads); using \(sharedCPUCount())")
            return sharedCPUCount()
        }
        return count
    }

    /// The affinity mask's CPUs divided among the ranks that share this host when a
    /// launcher says how many (torchrun's LOCAL_WORLD_SIZE), at least 1: ranks that each
    /// took every CPU would oversubscribe the host. A rank that torchrun (or the user)
    /// pinned to its own CPUs has a smaller mask and is not divided further.
    static func sharedCPUCount() -> Int {
        let cpus = affinityCPUCount
        guard let text = environment("LOCAL_WORLD_SIZE"), let ranks = Int(text), ranks > 1 else { return cpus }
        // A mask smaller than the host's CPUs is the rank's own share already.
        guard cpus >= Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) else { return cpus }
        return max(1, cpus / ranks)
    }

    // MARK: Environment

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// A misconfigured environment cannot return an error to anyone; say it once on
    /// stderr, as OpenMP runtimes do, and go on with the default.
    private static func warn(_ message: String) {
        let line = "descent: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
