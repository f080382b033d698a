import KernelInterface

/// One algorithm's arithmetic, kept apart from groups, buffers and threads (and from its
/// facts, which are its `AlgorithmDescription`): its per-step scalars and its kernel. A
/// step of one parameter computes its `Scalars` once (in double, as torch does); the
/// kernels (module Kernels*, one build per instruction set) then run over spans of
/// elements, reading and writing each element once.
protocol UpdateRule {
    associatedtype Scalars

    /// Per-step scalars; `step` counts this step (1 on a parameter's first step).
    /// `algorithm` tells rules that serve two algorithms (Adam, AdamW) which one runs.
    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars

}

extension UpdateRule {
    /// This rule's float32 kernel in `table` (every table has one for every rule).
    static func kernel(in table: KernelTable) -> @Sendable (Scalars, Span) -> Void {
        table.update(Scalars.self)!
    }
}
