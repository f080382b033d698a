/// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch's fused CPU
/// kernel computes it (`aten/src/ATen/native/cpu/FusedSGDKernel.cpp`).
/// State: `momentum_buffer`, created on the first step with momentum != 0 as a copy of
/// the (decayed) gradient.
/// In torch's scalar tail the momentum update is `fma(b, μ, g·(1−τ))` (see
/// `torchScalarTailStart`).
enum SGDRule: UpdateRule {
    struct Scalars {
        let negLR: Float
        let weightDecay: Float
        let momentum: Float
        let oneMinusDampening: Float
        let hasMomentum: Bool
        let nesterov: Bool
        let maximize: Bool
    }

    static let stateNames = ["momentum_buffer"]

    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8 { hp.momentum != 0 ? 1 : 0 }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars {
        Scalars(negLR: Float(-hp.lr), weightDecay: Float(hp.weightDecay),
                momentum: Float(hp.momentum), oneMinusDampening: Float(1 - hp.dampening),
                hasMomentum: hp.momentum != 0, nesterov: hp.nesterov, maximize: hp.maximize)
    }

    static func kernel(_ s: Scalars, _ b: Buffers, _ range: Range<Int>) {
        let p = b.param, g = b.grad
        let firstStep = b.freshSlots & 1 != 0
        let scalarTail = torchScalarTailStart(b.count)
        for i in range {
            var d = s.maximize ? -g[i] : g[i]
            if s.weightDecay != 0 { d = d.addingProduct(p[i], s.weightDecay) }
            if s.hasMomentum, let buf = b.slot0 {
                let m = firstStep ? d
                    : i < scalarTail ? (buf[i] * s.momentum).addingProduct(d, s.oneMinusDampening)
                    : (d * s.oneMinusDampening).addingProduct(buf[i], s.momentum)
                buf[i] = m
                d = s.nesterov ? d.addingProduct(m, s.momentum) : m
            }
            p[i] = p[i].addingProduct(d, s.negLR)
        }
    }
}
