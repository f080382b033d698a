import KernelInterface

/// One algorithm's bookkeeping, kept apart from groups, buffers and threads: its state
/// slots and its per-step scalars. A step of one parameter computes its `Scalars` once
/// (in double, as torch does); the kernels (module Kernels*, one build per instruction
/// set) then run over spans of elements, reading and writing each element once.
protocol UpdateRule {
    associatedtype Scalars

    /// torch's state keys, by slot index (at most three).
    static var stateNames: [String] { get }

    /// The slots a step with these hyperparameters uses, as a bit mask.
    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8

    /// The value a newly allocated slot starts with.
    static func initialValue(ofSlot slot: Int, initialAccumulator: Float) -> Float

    /// Per-step scalars; `step` counts this step (1 on a parameter's first step).
    /// `algorithm` tells rules that serve two algorithms (Adam, AdamW) which one runs.
    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars

    /// This rule's kernel in `table`.
    static func kernel(in table: KernelTable) -> @Sendable (Scalars, Span) -> Void
}

extension UpdateRule {
    static func initialValue(ofSlot slot: Int, initialAccumulator: Float) -> Float { 0 }
}
