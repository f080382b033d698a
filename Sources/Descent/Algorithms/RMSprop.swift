/// RMSprop with momentum, centering and L2 weight decay, as torch's single-tensor path
/// computes it (torch has no fused CPU RMSprop): `addcmul` contracted to one fma,
/// `addcdiv` as a multiplication and a true division.
/// State: `square_avg`, `momentum_buffer` when momentum > 0, `grad_avg` when centered.
enum RMSpropRule: UpdateRule {
    struct Scalars {
        let negLR: Float
        let alpha: Float
        let oneMinusAlpha: Float
        let eps: Float
        let weightDecay: Float
        let momentum: Float
        let hasMomentum: Bool
        let centered: Bool
        let maximize: Bool
    }

    static let stateNames = ["square_avg", "momentum_buffer", "grad_avg"]

    static func slotsNeeded(_ hp: Hyperparameters) -> UInt8 {
        0b001 | (hp.momentum > 0 ? 0b010 : 0) | (hp.centered ? 0b100 : 0)
    }

    static func scalars(_ hp: Hyperparameters, step: Int64, algorithm: Algorithm) -> Scalars {
        Scalars(negLR: Float(-hp.lr), alpha: Float(hp.alpha), oneMinusAlpha: Float(1 - hp.alpha),
                eps: Float(hp.eps), weightDecay: Float(hp.weightDecay), momentum: Float(hp.momentum),
                hasMomentum: hp.momentum > 0, centered: hp.centered, maximize: hp.maximize)
    }

    static func kernel(_ s: Scalars, _ b: Buffers, _ range: Range<Int>) {
        let p = b.param, g = b.grad, squareAvg = b.slot0!
        for i in range {
            var grad = s.maximize ? -g[i] : g[i]
            if s.weightDecay != 0 { grad = grad.addingProduct(p[i], s.weightDecay) }
            let sq = (squareAvg[i] * s.alpha).addingProduct(s.oneMinusAlpha * grad, grad)
            squareAvg[i] = sq
            var avg: Float
            if s.centered, let gradAvg = b.slot2 {
                let ga = lerp(gradAvg[i], grad, s.oneMinusAlpha)
                gradAvg[i] = ga
                avg = sq.addingProduct(-ga, ga).squareRoot()
            } else {
                avg = sq.squareRoot()
            }
            avg += s.eps
            if s.hasMomentum, let buf = b.slot1 {
                let m = buf[i] * s.momentum + grad / avg
                buf[i] = m
                p[i] = p[i].addingProduct(m, s.negLR)
            } else {
                p[i] = p[i] + (s.negLR * grad) / avg
            }
        }
    }
}
