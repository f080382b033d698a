/// The instruction sets Descent has kernels for. Raw values are the ids of the C API.
public enum InstructionSet: Int32, CaseIterable, Sendable {
    /// Baseline x86-64 (SSE2), or whatever the build target has: runs everywhere.
    case portable = 0
    /// AVX2 and FMA (Haswell and later, Zen and later).
    case avx2 = 1
    /// AVX-512 F/BW/DQ/VL (Skylake-SP and later, Zen 4 and later).
    case avx512 = 2

    /// The name used by `DESCENT_ISA` and in messages.
    public var name: String {
        switch self {
        case .portable: "portable"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }
}

/// Which update kernel: the update rule, named by its per-step scalars' type (each rule
/// has its own), and the formats it runs on.
public struct KernelKey: Hashable, Sendable {
    @usableFromInline let rule: ObjectIdentifier
    @usableFromInline let parameter: ElementFormat
    @usableFromInline let state: ElementFormat

    @inlinable
    public init<Scalars>(_ scalars: Scalars.Type, parameter: ElementFormat, state: ElementFormat) {
        self.init(rule: ObjectIdentifier(scalars), parameter: parameter, state: state)
    }

    @usableFromInline
    init(rule: ObjectIdentifier, parameter: ElementFormat, state: ElementFormat) {
        self.rule = rule
        self.parameter = parameter
        self.state = state
    }
}

/// An update kernel as the table holds it: the rule's scalars passed by address, so that
/// every kernel has this one concrete type. (Stored as `Any` and cast back to its own
/// type, a kernel was called through two reabstraction thunks per span, which copied
/// the span through memory: 0.15 µs per tensor.)
public typealias UpdateKernelFunction = @Sendable (UnsafeRawPointer, Span) -> Void

/// An update kernel with its key.
public struct UpdateKernel: Sendable {
    @usableFromInline let key: KernelKey
    @usableFromInline let function: UpdateKernelFunction

    /// Inlinable, so that each kernels module specializes it for the kernel's scalars and
    /// the wrapper calls the kernel directly.
    @inlinable
    public init<Scalars>(parameter: ElementFormat = .float32, state: ElementFormat = .float32,
                         _ kernel: @escaping @Sendable (Scalars, Span) -> Void) {
        self.init(key: KernelKey(Scalars.self, parameter: parameter, state: state)) { scalars, span in
            kernel(scalars.assumingMemoryBound(to: Scalars.self).pointee, span)
        }
    }

    @usableFromInline
    init(key: KernelKey, function: @escaping UpdateKernelFunction) {
        self.key = key
        self.function = function
    }
}

/// One instruction set's kernels. The same source is compiled once per instruction set
/// (KernelsPortable, KernelsAVX2, KernelsAVX512, each with its own target CPU); the
/// engine picks one table at run time. The kernels are reached only through this table,
/// so no optimization inlines them into code built for a lesser CPU. Update kernels are
/// found by (rule, parameter format, state format).
public struct KernelTable: Sendable {
    public let instructionSet: InstructionSet
    private let updates: [KernelKey: UpdateKernel]
    /// The norm partial of `count` gradient elements, each divided by `scale` first.
    public let norm: @Sendable (UnsafePointer<Float>, Int, Float, NormKind) -> NormPartial
    /// Rewrites `count` gradient elements in place.
    public let transform: @Sendable (UnsafeMutablePointer<Float>, Int, GradientTransform) -> Void
    /// L-BFGS's passes over flat vectors.
    public let vectors: VectorKernels
    /// Adafactor's passes over tiles of a parameter.
    public let factored: FactoredKernels
    /// Muon's element-wise passes around its matrix products.
    public let muon: MuonKernels

    public init(instructionSet: InstructionSet, updates: [UpdateKernel],
                norm: @escaping @Sendable (UnsafePointer<Float>, Int, Float, NormKind) -> NormPartial,
                transform: @escaping @Sendable (UnsafeMutablePointer<Float>, Int, GradientTransform) -> Void,
                vectors: VectorKernels, factored: FactoredKernels, muon: MuonKernels) {
        self.instructionSet = instructionSet
        self.updates = Dictionary(updates.map { ($0.key, $0) }) { first, _ in first }
        self.norm = norm
        self.transform = transform
        self.vectors = vectors
        self.factored = factored
        self.muon = muon
    }

    /// The update kernel of the rule whose per-step scalars are `Scalars`, for these
    /// formats (it takes the scalars by address); nil where none exists.
    public func update<Scalars>(_ scalars: Scalars.Type, parameter: ElementFormat = .float32,
                                state: ElementFormat = .float32) -> UpdateKernelFunction? {
        updates[KernelKey(scalars, parameter: parameter, state: state)]?.function
    }
}
