import KernelInterface
/// Adagrad with lr decay and L2 weight decay, as torch's fused CPU kernel computes it
/// (`aten/src/ATen/native/cpu/FusedAdagradKernel.cpp`).
/// State: `sum`, filled with initial_accumulator_value when the parameter is registered
/// (torch fills it in the constructor).
enum AdagradRule: UpdateRule {
    typealias Scalars = AdagradScalars

    static let stateNames = ["sum"]

    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8 { 1 }

    static func initialValue(ofSlot slot: Int, initialAccumulator: Float) -> Float {
        initialAccumulator
    }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars {
        let clr = hp.lr / (1 + (Double(step) - 1) * hp.lrDecay)
        return Scalars(negClr: Float(-clr), eps: Float(hp.eps),
                       weightDecay: Float(hp.weightDecay), maximize: hp.maximize)
    }

    static func kernel(in table: KernelTable) -> @Sendable (Scalars, Span) -> Void { table.adagrad }
}
