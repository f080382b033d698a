/// Per-step scalars of each algorithm, computed once per parameter and step in double
/// (as torch does) and rounded to float32 once. The engine fills them; the kernels of
/// every instruction set read them, so they live here, in the module both see.

public struct SGDScalars {
    public var negLR: Float
    public var weightDecay: Float
    public var momentum: Float
    public var oneMinusDampening: Float
    public var hasMomentum: Bool
    public var nesterov: Bool
    public var maximize: Bool

    public init(negLR: Float, weightDecay: Float, momentum: Float, oneMinusDampening: Float,
                hasMomentum: Bool, nesterov: Bool, maximize: Bool) {
        self.negLR = negLR
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.oneMinusDampening = oneMinusDampening
        self.hasMomentum = hasMomentum
        self.nesterov = nesterov
        self.maximize = maximize
    }
}

public struct AdamScalars {
    /// L2 weight decay (Adam): g += wd * p; 0 for AdamW.
    public var weightDecay: Float
    /// Decoupled weight decay (AdamW): p *= 1 - lr * wd; exactly 1 for Adam.
    public var decay: Float
    public var oneMinusBeta1: Float
    public var beta2: Float
    public var oneMinusBeta2: Float
    public var negStepSize: Float
    public var biasCorrection2Sqrt: Float
    public var eps: Float
    public var amsgrad: Bool
    public var maximize: Bool

    public init(weightDecay: Float, decay: Float, oneMinusBeta1: Float, beta2: Float,
                oneMinusBeta2: Float, negStepSize: Float, biasCorrection2Sqrt: Float, eps: Float,
                amsgrad: Bool, maximize: Bool) {
        self.weightDecay = weightDecay
        self.decay = decay
        self.oneMinusBeta1 = oneMinusBeta1
        self.beta2 = beta2
        self.oneMinusBeta2 = oneMinusBeta2
        self.negStepSize = negStepSize
        self.biasCorrection2Sqrt = biasCorrection2Sqrt
        self.eps = eps
        self.amsgrad = amsgrad
        self.maximize = maximize
    }
}

public struct RMSpropScalars {
    public var negLR: Float
    public var alpha: Float
    public var oneMinusAlpha: Float
    public var eps: Float
    public var weightDecay: Float
    public var momentum: Float
    public var hasMomentum: Bool
    public var centered: Bool
    public var maximize: Bool

    public init(negLR: Float, alpha: Float, oneMinusAlpha: Float, eps: Float, weightDecay: Float,
                momentum: Float, hasMomentum: Bool, centered: Bool, maximize: Bool) {
        self.negLR = negLR
        self.alpha = alpha
        self.oneMinusAlpha = oneMinusAlpha
        self.eps = eps
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.hasMomentum = hasMomentum
        self.centered = centered
        self.maximize = maximize
    }
}

public struct AdagradScalars {
    public var negClr: Float
    public var eps: Float
    public var weightDecay: Float
    public var maximize: Bool

    public init(negClr: Float, eps: Float, weightDecay: Float, maximize: Bool) {
        self.negClr = negClr
        self.eps = eps
        self.weightDecay = weightDecay
        self.maximize = maximize
    }
}

public struct AdamaxScalars {
    /// −lr / (1 − β1^t), rounded once.
    public var negClr: Float
    public var oneMinusBeta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    public var maximize: Bool

    public init(negClr: Float, oneMinusBeta1: Float, beta2: Float, eps: Float, weightDecay: Float, maximize: Bool) {
        self.negClr = negClr
        self.oneMinusBeta1 = oneMinusBeta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.maximize = maximize
    }
}

public struct NAdamScalars {
    /// Decoupled weight decay: p *= 1 − lr·wd; exactly 1 otherwise.
    public var decay: Float
    /// L2 weight decay: g += wd·p; 0 when decoupled.
    public var weightDecay: Float
    public var oneMinusBeta1: Float
    public var beta2: Float
    public var oneMinusBeta2: Float
    public var biasCorrection2: Float
    public var eps: Float
    /// −lr·(1 − μt)/(1 − Πt) and −lr·μt+1/(1 − Πt·μt+1), each rounded once.
    public var gradientStep: Float
    public var momentumStep: Float
    public var maximize: Bool

    public init(decay: Float, weightDecay: Float, oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float,
                biasCorrection2: Float, eps: Float, gradientStep: Float, momentumStep: Float, maximize: Bool) {
        self.decay = decay
        self.weightDecay = weightDecay
        self.oneMinusBeta1 = oneMinusBeta1
        self.beta2 = beta2
        self.oneMinusBeta2 = oneMinusBeta2
        self.biasCorrection2 = biasCorrection2
        self.eps = eps
        self.gradientStep = gradientStep
        self.momentumStep = momentumStep
        self.maximize = maximize
    }
}

public struct RAdamScalars {
    /// Decoupled weight decay: p *= 1 − lr·wd; exactly 1 otherwise.
    public var decay: Float
    /// L2 weight decay: g += wd·p; 0 when decoupled.
    public var weightDecay: Float
    public var oneMinusBeta1: Float
    public var beta2: Float
    public var oneMinusBeta2: Float
    public var biasCorrection1: Float
    public var lr: Float
    /// ρt > 5: the adaptive step, scaled by `rect`, is taken; otherwise plain momentum.
    public var rectified: Bool
    public var biasCorrection2Sqrt: Float
    public var eps: Float
    public var rect: Float
    public var maximize: Bool

    public init(decay: Float, weightDecay: Float, oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float,
                biasCorrection1: Float, lr: Float, rectified: Bool, biasCorrection2Sqrt: Float, eps: Float,
                rect: Float, maximize: Bool) {
        self.decay = decay
        self.weightDecay = weightDecay
        self.oneMinusBeta1 = oneMinusBeta1
        self.beta2 = beta2
        self.oneMinusBeta2 = oneMinusBeta2
        self.biasCorrection1 = biasCorrection1
        self.lr = lr
        self.rectified = rectified
        self.biasCorrection2Sqrt = biasCorrection2Sqrt
        self.eps = eps
        self.rect = rect
        self.maximize = maximize
    }
}

public struct AdadeltaScalars {
    public var rho: Float
    public var oneMinusRho: Float
    public var eps: Float
    public var negLR: Float
    public var weightDecay: Float
    public var maximize: Bool

    public init(rho: Float, oneMinusRho: Float, eps: Float, negLR: Float, weightDecay: Float, maximize: Bool) {
        self.rho = rho
        self.oneMinusRho = oneMinusRho
        self.eps = eps
        self.negLR = negLR
        self.weightDecay = weightDecay
        self.maximize = maximize
    }
}

public struct ASGDScalars {
    /// 1 − λ·eta, rounded once.
    public var decay: Float
    public var negEta: Float
    public var weightDecay: Float
    /// The averaging weight; `averages` is mu != 1 (with mu = 1 torch copies instead).
    public var mu: Float
    public var averages: Bool
    public var maximize: Bool

    public init(decay: Float, negEta: Float, weightDecay: Float, mu: Float, averages: Bool, maximize: Bool) {
        self.decay = decay
        self.negEta = negEta
        self.weightDecay = weightDecay
        self.mu = mu
        self.averages = averages
        self.maximize = maximize
    }
}

public struct RpropScalars {
    public var etaMinus: Float
    public var etaPlus: Float
    public var stepSizeMin: Float
    public var stepSizeMax: Float
    public var maximize: Bool

    public init(etaMinus: Float, etaPlus: Float, stepSizeMin: Float, stepSizeMax: Float, maximize: Bool) {
        self.etaMinus = etaMinus
        self.etaPlus = etaPlus
        self.stepSizeMin = stepSizeMin
        self.stepSizeMax = stepSizeMax
        self.maximize = maximize
    }
}
