import KernelInterface

/// One algorithm's arithmetic, kept apart from groups, buffers and threads (and from its
/// facts, which are its `AlgorithmDescription`): its per-step scalars and its kernel. A
/// step of one parameter computes its `Scalars` once (in double, as torch does); the
/// kernels (module Kernels*, one build per instruction set) then run over spans of
/// elements, reading and writing each element once.
protocol UpdateRule {
    associatedtype Scalars

    /// Whether the scalars read (and advance) the parameter's scalar state, so that each
    /// parameter has its own (NAdam's mu_product); otherwise they are computed once per
    /// group and step count.
    static var readsScalarState: Bool { get }

    /// Per-step scalars; `step` counts this step (1 on a parameter's first step).
    /// `algorithm` tells rules that serve two algorithms (Adam, AdamW) which one runs;
    /// `state` is the parameter's state slots, for rules that read scalar state.
    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm,
                        state: [UnsafeMutablePointer<Float>?]) -> Scalars

    /// This rule's float32 kernel in `table`, taking the scalars by address.
    static func kernel(in table: KernelTable) -> UpdateKernelFunction
}

extension UpdateRule {
    static var readsScalarState: Bool { false }

    /// Every table has a kernel for every rule with a dense update.
    static func kernel(in table: KernelTable) -> UpdateKernelFunction {
        table.update(Scalars.self)!
    }
}
