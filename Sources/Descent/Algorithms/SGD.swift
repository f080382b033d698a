import KernelInterface
/// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch's fused CPU
/// kernel computes it (`aten/src/ATen/native/cpu/FusedSGDKernel.cpp`).
/// State: `momentum_buffer`, created on the first step with momentum != 0 as a copy of
/// the (decayed) gradient.
/// In torch's scalar tail the momentum update is `fma(b, μ, g·(1−τ))` (see
/// `torchScalarTailStart`).
enum SGDRule: UpdateRule {
    typealias Scalars = SGDScalars

    static let stateNames = ["momentum_buffer"]

    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8 { hp.momentum != 0 ? 1 : 0 }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars {
        Scalars(negLR: Float(-hp.lr), weightDecay: Float(hp.weightDecay),
                momentum: Float(hp.momentum), oneMinusDampening: Float(1 - hp.dampening),
                hasMomentum: hp.momentum != 0, nesterov: hp.nesterov, maximize: hp.maximize)
    }

    static func kernel(in table: KernelTable) -> @Sendable (Scalars, Span) -> Void { table.sgd }
}
