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

/// One instruction set's kernels. The same source is compiled once per instruction set
/// (KernelsPortable, KernelsAVX2, KernelsAVX512, each with its own target CPU); the
/// engine picks one table at run time. The kernels are reached only through this table,
/// so no optimization inlines them into code built for a lesser CPU.
public struct KernelTable: Sendable {
    public let instructionSet: InstructionSet
    public let sgd: @Sendable (SGDScalars, Span) -> Void
    public let adam: @Sendable (AdamScalars, Span) -> Void
    public let rmsprop: @Sendable (RMSpropScalars, Span) -> Void
    public let adagrad: @Sendable (AdagradScalars, Span) -> Void
    /// The norm partial of `count` gradient elements, each divided by `scale` first.
    public let norm: @Sendable (UnsafePointer<Float>, Int, Float, NormKind) -> NormPartial
    /// Rewrites `count` gradient elements in place.
    public let transform: @Sendable (UnsafeMutablePointer<Float>, Int, GradientTransform) -> Void

    public init(instructionSet: InstructionSet,
                sgd: @escaping @Sendable (SGDScalars, Span) -> Void,
                adam: @escaping @Sendable (AdamScalars, Span) -> Void,
                rmsprop: @escaping @Sendable (RMSpropScalars, Span) -> Void,
                adagrad: @escaping @Sendable (AdagradScalars, Span) -> Void,
                norm: @escaping @Sendable (UnsafePointer<Float>, Int, Float, NormKind) -> NormPartial,
                transform: @escaping @Sendable (UnsafeMutablePointer<Float>, Int, GradientTransform) -> Void) {
        self.instructionSet = instructionSet
        self.sgd = sgd
        self.adam = adam
        self.rmsprop = rmsprop
        self.adagrad = adagrad
        self.norm = norm
        self.transform = transform
    }
}
