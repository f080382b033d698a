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

/// The element format of what a kernel reads and writes: parameters (and gradients), or
/// optimizer state. Only float32 exists so far; bfloat16, float16 and 8-bit block-wise
/// state become new cases here, and their kernels new entries of a `KernelTable`, not
/// new fields.
public enum ElementFormat: Hashable, Sendable {
    case float32

    /// Parameters are laid out for a step in multiples of this many elements, so that a
    /// chunk boundary never splits what the format stores together (16 float32: 64 bytes;
    /// a quantization block will be one whole block).
    public var layoutGranularity: Int {
        switch self { case .float32: 16 }
    }
}

/// Which update kernel: the update rule, named by its per-step scalars' type (each rule
/// has its own), and the formats it runs on.
public struct KernelKey: Hashable, Sendable {
    let rule: ObjectIdentifier
    let parameter: ElementFormat
    let state: ElementFormat

    public init<Scalars>(_ scalars: Scalars.Type, parameter: ElementFormat, state: ElementFormat) {
        rule = ObjectIdentifier(scalars)
        self.parameter = parameter
        self.state = state
    }
}

/// An update kernel with its key; the table gives it back typed by its scalars.
public struct UpdateKernel: @unchecked Sendable {
    let key: KernelKey
    /// A `@Sendable (Scalars, Span) -> Void` for the key's Scalars.
    let function: Any

    public init<Scalars>(parameter: ElementFormat = .float32, state: ElementFormat = .float32,
                         _ kernel: @escaping @Sendable (Scalars, Span) -> Void) {
        key = KernelKey(Scalars.self, parameter: parameter, state: state)
        function = kernel
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

    public init(instructionSet: InstructionSet, updates: [UpdateKernel],
                norm: @escaping @Sendable (UnsafePointer<Float>, Int, Float, NormKind) -> NormPartial,
                transform: @escaping @Sendable (UnsafeMutablePointer<Float>, Int, GradientTransform) -> Void) {
        self.instructionSet = instructionSet
        self.updates = Dictionary(updates.map { ($0.key, $0) }) { first, _ in first }
        self.norm = norm
        self.transform = transform
    }

    /// The update kernel of the rule whose per-step scalars are `Scalars`, for these
    /// formats; nil where none exists.
    public func update<Scalars>(_ scalars: Scalars.Type, parameter: ElementFormat = .float32,
                                state: ElementFormat = .float32) -> (@Sendable (Scalars, Span) -> Void)? {
        updates[KernelKey(scalars, parameter: parameter, state: state)]?.function as? @Sendable (Scalars, Span) -> Void
    }
}
