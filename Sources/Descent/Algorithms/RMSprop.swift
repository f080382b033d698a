import KernelInterface
/// RMSprop with momentum, centering and L2 weight decay, as torch's single-tensor path
/// computes it (torch has no fused CPU RMSprop): `addcmul` contracted to one fma,
/// `addcdiv` as a multiplication and a true division.
/// State: `square_avg`, `momentum_buffer` when momentum > 0, `grad_avg` when centered.
enum RMSpropRule: UpdateRule {
    typealias Scalars = RMSpropScalars

    static let stateNames = ["square_avg", "momentum_buffer", "grad_avg"]

    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8 {
        0b001 | (hp.momentum > 0 ? 0b010 : 0) | (hp.centered ? 0b100 : 0)
    }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars {
        Scalars(negLR: Float(-hp.lr), alpha: Float(hp.alpha), oneMinusAlpha: Float(1 - hp.alpha),
                eps: Float(hp.eps), weightDecay: Float(hp.weightDecay), momentum: Float(hp.momentum),
                hasMomentum: hp.momentum > 0, centered: hp.centered, maximize: hp.maximize)
    }

    static func kernel(in table: KernelTable) -> @Sendable (Scalars, Span) -> Void { table.rmsprop }
}
