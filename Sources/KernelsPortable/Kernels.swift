import KernelInterface
#if !KERNELS_PORTABLE
import KernelsPortable
#endif

// This file is compiled three times, once per instruction set (KernelsAVX2 and
// KernelsAVX512 hold links to it; Package.swift gives each its target CPU).
// Each rule's per-step scalars are declared next to its kernel, in the portable build
// only (KERNELS_PORTABLE): the engine fills them, and the other builds import them
// from there, so each is one type. They are computed once per parameter and step in
// double (as torch does) and rounded to float32 once.
// The loops are plain element loops that LLVM vectorizes for the module's CPU: every
// operation is an IEEE operation that rounds exactly once (fma included, never contracted or
// reassociated), so all three builds give the same bits as torch's fused kernels.
// Each kernel runs its span's vector part and its torch-scalar-tail part as two loops
// (see `Span.tailRange`), with the options fixed by constant arguments of an inlined
// loop, so that no branch stays in a loop body. The dense kernels are generic over how
// they read and write their parameter and gradient (`ParameterElements`) and their state
// (`StateElements`): built for each pair of formats, each one pass (StateFormatKernels.swift
// registers them, and the formats that go through float32 pieces).

#if KERNELS_AVX512
let instructionSet = InstructionSet.avx512
#elseif KERNELS_AVX2
let instructionSet = InstructionSet.avx2
#elseif KERNELS_PORTABLE
let instructionSet = InstructionSet.portable
#endif

/// This module's kernels.
public let kernelTable = KernelTable(
    instructionSet: instructionSet,
    updates: everyFormat(SGDKernels.self) + everyFormat(AdamKernels.self) + everyFormat(RMSpropKernels.self)
        + everyFormat(AdagradKernels.self) + everyFormat(AdamaxKernels.self) + everyFormat(NAdamKernels.self)
        + everyFormat(RAdamKernels.self) + everyFormat(AdadeltaKernels.self) + everyFormat(ASGDKernels.self)
        + everyFormat(RpropKernels.self)
        + [UpdateKernel(adagradRowsKernel), UpdateKernel(sparseAdamKernel)],
    norm: normKernel, transform: transformKernel, vectors: vectorKernels, factored: factoredKernels,
    muon: muonKernels)

// Each dense rule's kernel as a type, so that `everyFormat` builds it for every pair of
// parameter and state formats.
enum SGDKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: SGDScalars, _ span: Span, _: P.Type, _: E.Type) {
        sgdKernel(s, span, P.self, E.self)
    }
}

enum AdamKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: AdamScalars, _ span: Span, _: P.Type, _: E.Type) {
        adamKernel(s, span, P.self, E.self)
    }
}

enum RMSpropKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: RMSpropScalars, _ span: Span, _: P.Type, _: E.Type) {
        rmspropKernel(s, span, P.self, E.self)
    }
}

enum AdagradKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: AdagradScalars, _ span: Span, _: P.Type, _: E.Type) {
        adagradKernel(s, span, P.self, E.self)
    }
}

enum AdamaxKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: AdamaxScalars, _ span: Span, _: P.Type, _: E.Type) {
        adamaxKernel(s, span, P.self, E.self)
    }
}

enum NAdamKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: NAdamScalars, _ span: Span, _: P.Type, _: E.Type) {
        nadamKernel(s, span, P.self, E.self)
    }
}

enum RAdamKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: RAdamScalars, _ span: Span, _: P.Type, _: E.Type) {
        radamKernel(s, span, P.self, E.self)
    }
}

enum AdadeltaKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: AdadeltaScalars, _ span: Span, _: P.Type, _: E.Type) {
        adadeltaKernel(s, span, P.self, E.self)
    }
}

enum ASGDKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: ASGDScalars, _ span: Span, _: P.Type, _: E.Type) {
        asgdKernel(s, span, P.self, E.self)
    }
}

enum RpropKernels: RuleKernels {
    static func run<P: ParameterElements, E: StateElements>(_ s: RpropScalars, _ span: Span, _: P.Type, _: E.Type) {
        rpropKernel(s, span, P.self, E.self)
    }
}

// MARK: SGD

#if KERNELS_PORTABLE
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
#endif

@inline(never)
func sgdKernel<P: ParameterElements, E: StateElements>(_ s: SGDScalars, _ span: Span, _: P.Type, _: E.Type) {
    guard s.hasMomentum, let buf = span.elements(0, E.self) else {
        sgdLoop(s, span, span.start ..< span.end, P.self, E.self, buf: nil, first: false, tail: false)
        return
    }
    if span.freshSlots & 1 != 0 {
        sgdLoop(s, span, span.start ..< span.end, P.self, E.self, buf: buf, first: true, tail: false)
    } else {
        sgdLoop(s, span, span.bodyRange, P.self, E.self, buf: buf, first: false, tail: false)
        sgdLoop(s, span, span.tailRange, P.self, E.self, buf: buf, first: false, tail: true)
    }
}

/// torch's fused SGD: `buf` nil means no momentum; `first` copies the gradient into a
/// fresh momentum buffer; `tail` uses the scalar loop's fma form.
@inline(__always)
func sgdLoop<P: ParameterElements, E: StateElements>(_ s: SGDScalars, _ span: Span, _ range: Range<Int>, _: P.Type, _: E.Type,
             buf: E?, first: Bool, tail: Bool) {
    let p = P(span), g = P.Gradients(span)
    let decays = s.weightDecay != 0
    // Read once: used under a condition, the field was loaded per lane (a gather).
    let momentum = s.momentum
    for i in range {
        var d = gradient(g[i], p[i], maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        if let buf {
            let m = first ? d
                : tail ? (d * s.oneMinusDampening).addingProduct(buf[i], momentum)
                : (buf[i] * momentum).addingProduct(d, s.oneMinusDampening)
            buf[i] = m
            d = s.nesterov ? d.addingProduct(m, momentum) : m
        }
        p[i] = p[i].addingProduct(d, s.negLR)
    }
}

// MARK: Adam, AdamW

#if KERNELS_PORTABLE
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
#endif

@inline(never)
func adamKernel<P: ParameterElements, E: StateElements>(_ s: AdamScalars, _ span: Span, _: P.Type, _: E.Type) {
    if s.amsgrad, let vmax = span.elements(2, E.self) {
        adamLoop(s, span, span.bodyRange, P.self, E.self, vmax: vmax, tail: false)
        adamLoop(s, span, span.tailRange, P.self, E.self, vmax: vmax, tail: true)
    } else {
        adamLoop(s, span, span.bodyRange, P.self, E.self, vmax: nil, tail: false)
        adamLoop(s, span, span.tailRange, P.self, E.self, vmax: nil, tail: true)
    }
}

/// torch's fused Adam (decoupled decay for AdamW, exactly 1 for Adam); `vmax` is the
/// amsgrad maximum, nil without amsgrad.
@inline(__always)
func adamLoop<P: ParameterElements, E: StateElements>(_ s: AdamScalars, _ span: Span, _ range: Range<Int>, _: P.Type, _: E.Type,
              vmax: E?, tail: Bool) {
    let p = P(span), g = P.Gradients(span), m = span.elements(0, E.self)!, v = span.elements(1, E.self)!
    let decays = s.weightDecay != 0
    for i in range {
        let param = p[i] * s.decay
        let grad = gradient(g[i], param, maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        let mi = lerp(m[i], grad, s.oneMinusBeta1)
        var vi = tail
            ? ((s.oneMinusBeta2 * grad) * grad).addingProduct(v[i], s.beta2)
            : (v[i] * s.beta2).addingProduct(s.oneMinusBeta2 * grad, grad)
        m[i] = mi
        v[i] = vi
        if let vmax {
            vi = nanMaximum(vmax[i], vi)
            vmax[i] = vi
        }
        let denom = vi.squareRoot() / s.biasCorrection2Sqrt + s.eps
        p[i] = param + (s.negStepSize * mi) / denom
    }
}

// MARK: RMSprop

#if KERNELS_PORTABLE
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
#endif

@inline(never)
func rmspropKernel<P: ParameterElements, E: StateElements>(_ s: RMSpropScalars, _ span: Span, _: P.Type, _: E.Type) {
    let range = span.start ..< span.end
    let gradAvg = s.centered ? span.elements(2, E.self) : nil
    let buf = s.hasMomentum ? span.elements(1, E.self) : nil
    switch (gradAvg != nil, buf != nil) {
    case (false, false): rmspropLoop(s, span, range, P.self, E.self, gradAvg: nil, buf: nil)
    case (false, true): rmspropLoop(s, span, range, P.self, E.self, gradAvg: nil, buf: buf)
    case (true, false): rmspropLoop(s, span, range, P.self, E.self, gradAvg: gradAvg, buf: nil)
    case (true, true): rmspropLoop(s, span, range, P.self, E.self, gradAvg: gradAvg, buf: buf)
    }
}

/// torch's single-tensor RMSprop: `gradAvg` when centered, `buf` with momentum.
@inline(__always)
func rmspropLoop<P: ParameterElements, E: StateElements>(_ s: RMSpropScalars, _ span: Span, _ range: Range<Int>, _: P.Type, _: E.Type,
                 gradAvg: E?, buf: E?) {
    let p = P(span), g = P.Gradients(span), squareAvg = span.elements(0, E.self)!
    let decays = s.weightDecay != 0
    for i in range {
        let grad = gradient(g[i], p[i], maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        let sq = (squareAvg[i] * s.alpha).addingProduct(s.oneMinusAlpha * grad, grad)
        squareAvg[i] = sq
        var avg: Float
        if let gradAvg {
            let ga = lerp(gradAvg[i], grad, s.oneMinusAlpha)
            gradAvg[i] = ga
            avg = sq.addingProduct(-ga, ga).squareRoot()
        } else {
            avg = sq.squareRoot()
        }
        avg += s.eps
        if let buf {
            let m = buf[i] * s.momentum + grad / avg
            buf[i] = m
            p[i] = p[i].addingProduct(m, s.negLR)
        } else {
            p[i] = p[i] + (s.negLR * grad) / avg
        }
    }
}

// MARK: Adagrad

#if KERNELS_PORTABLE
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
#endif

@inline(never)
func adagradKernel<P: ParameterElements, E: StateElements>(_ s: AdagradScalars, _ span: Span, _: P.Type, _: E.Type) {
    let p = P(span), g = P.Gradients(span), sum = span.elements(0, E.self)!
    let decays = s.weightDecay != 0
    for i in span.start ..< span.end {
        let grad = gradient(g[i], p[i], maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        let acc = sum[i].addingProduct(grad, grad)
        sum[i] = acc
        let std = acc.squareRoot() + s.eps
        p[i] = p[i] + (s.negClr * grad) / std
    }
}

// MARK: Adamax

#if KERNELS_PORTABLE
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
#endif

/// torch's single-tensor Adamax: m = lerp(m, g, 1 − β1); u = max(u·β2, |g| + eps);
/// p = p + (−clr·m)/u.
@inline(never)
func adamaxKernel<P: ParameterElements, E: StateElements>(_ s: AdamaxScalars, _ span: Span, _: P.Type, _: E.Type) {
    let p = P(span), g = P.Gradients(span), m = span.elements(0, E.self)!, u = span.elements(1, E.self)!
    let decays = s.weightDecay != 0
    for i in span.start ..< span.end {
        let grad = gradient(g[i], p[i], maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        let mi = lerp(m[i], grad, s.oneMinusBeta1)
        let ui = nanMaximum(u[i] * s.beta2, grad.magnitude + s.eps)
        m[i] = mi
        u[i] = ui
        p[i] = p[i] + (s.negClr * mi) / ui
    }
}

// MARK: NAdam

#if KERNELS_PORTABLE
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
#endif

/// torch's single-tensor NAdam: m = lerp(m, g, 1 − β1); v = fma((1−β2)·g, g, v·β2);
/// den = sqrt(v / bc2) + eps; p += (s1·g)/den; p += (s2·m)/den. Slot 0 (mu_product) is
/// the scalars'.
@inline(never)
func nadamKernel<P: ParameterElements, E: StateElements>(_ s: NAdamScalars, _ span: Span, _: P.Type, _: E.Type) {
    let p = P(span), g = P.Gradients(span), m = span.elements(1, E.self)!, v = span.elements(2, E.self)!
    let decays = s.weightDecay != 0
    for i in span.start ..< span.end {
        let param = p[i] * s.decay
        let grad = gradient(g[i], param, maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        let mi = lerp(m[i], grad, s.oneMinusBeta1)
        let vi = (v[i] * s.beta2).addingProduct(s.oneMinusBeta2 * grad, grad)
        m[i] = mi
        v[i] = vi
        let denom = (vi / s.biasCorrection2).squareRoot() + s.eps
        let stepped = param + (s.gradientStep * grad) / denom
        p[i] = stepped + (s.momentumStep * mi) / denom
    }
}

// MARK: RAdam

#if KERNELS_PORTABLE
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
#endif

/// torch's single-tensor RAdam: m = lerp(m, g, 1 − β1); v = fma((1−β2)·g, g, v·β2);
/// rectified: p −= ((m/bc1)·lr·(1/(sqrt(v) + eps))·sqrt(bc2))·rect, else p −= (m/bc1)·lr.
@inline(never)
func radamKernel<P: ParameterElements, E: StateElements>(_ s: RAdamScalars, _ span: Span, _: P.Type, _: E.Type) {
    let range = span.start ..< span.end
    if s.rectified {
        radamLoop(s, span, range, P.self, E.self, rectified: true)
    } else {
        radamLoop(s, span, range, P.self, E.self, rectified: false)
    }
}

@inline(__always)
func radamLoop<P: ParameterElements, E: StateElements>(_ s: RAdamScalars, _ span: Span, _ range: Range<Int>, _: P.Type, _: E.Type, rectified: Bool) {
    let p = P(span), g = P.Gradients(span), m = span.elements(0, E.self)!, v = span.elements(1, E.self)!
    let decays = s.weightDecay != 0
    for i in range {
        let param = p[i] * s.decay
        let grad = gradient(g[i], param, maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        let mi = lerp(m[i], grad, s.oneMinusBeta1)
        let vi = (v[i] * s.beta2).addingProduct(s.oneMinusBeta2 * grad, grad)
        m[i] = mi
        v[i] = vi
        let corrected = (mi / s.biasCorrection1) * s.lr
        if rectified {
            let adaptive = (1 / (vi.squareRoot() + s.eps)) * s.biasCorrection2Sqrt
            p[i] = param - (corrected * adaptive) * s.rect
        } else {
            p[i] = param - corrected
        }
    }
}

// MARK: Adadelta

#if KERNELS_PORTABLE
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
#endif

/// torch's single-tensor Adadelta: s = fma((1−ρ)·g, g, s·ρ);
/// d = (sqrt(a + eps) / sqrt(s + eps))·g; a = fma((1−ρ)·d, d, a·ρ); p = fma(d, −lr, p).
@inline(never)
func adadeltaKernel<P: ParameterElements, E: StateElements>(_ s: AdadeltaScalars, _ span: Span, _: P.Type, _: E.Type) {
    let p = P(span), g = P.Gradients(span)
    let squareAvg = span.elements(0, E.self)!, accDelta = span.elements(1, E.self)!
    let decays = s.weightDecay != 0
    for i in span.start ..< span.end {
        let grad = gradient(g[i], p[i], maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        let sq = (squareAvg[i] * s.rho).addingProduct(s.oneMinusRho * grad, grad)
        squareAvg[i] = sq
        let delta = ((accDelta[i] + s.eps).squareRoot() / (sq + s.eps).squareRoot()) * grad
        accDelta[i] = (accDelta[i] * s.rho).addingProduct(s.oneMinusRho * delta, delta)
        p[i] = p[i].addingProduct(delta, s.negLR)
    }
}

// MARK: ASGD

#if KERNELS_PORTABLE
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
#endif

/// torch's single-tensor ASGD: p = fma(g, −eta, p·(1 − λ·eta)); then the average
/// ax = ax + (p − ax)·mu, or a copy of p while mu is 1. Slots 0 and 1 (eta, mu) are the
/// scalars'.
@inline(never)
func asgdKernel<P: ParameterElements, E: StateElements>(_ s: ASGDScalars, _ span: Span, _: P.Type, _: E.Type) {
    let range = span.start ..< span.end
    if s.averages {
        asgdLoop(s, span, range, P.self, E.self, averages: true)
    } else {
        asgdLoop(s, span, range, P.self, E.self, averages: false)
    }
}

@inline(__always)
func asgdLoop<P: ParameterElements, E: StateElements>(_ s: ASGDScalars, _ span: Span, _ range: Range<Int>, _: P.Type, _: E.Type, averages: Bool) {
    let p = P(span), g = P.Gradients(span), ax = span.elements(2, E.self)!
    let decays = s.weightDecay != 0
    for i in range {
        let grad = gradient(g[i], p[i], maximize: s.maximize, weightDecay: s.weightDecay, decays: decays)
        let param = (p[i] * s.decay).addingProduct(grad, s.negEta)
        p[i] = param
        ax[i] = averages ? ax[i] + (param - ax[i]) * s.mu : param
    }
}

// MARK: Rprop

#if KERNELS_PORTABLE
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
#endif

/// torch's single-tensor Rprop: the sign of g·prev picks the step size's factor (etaplus,
/// etaminus, or 1 at 0 and for NaN, whose sign torch makes 0); the step size is clamped
/// (NaN kept); where the sign flipped the gradient counts as 0; p = fma(−sign(g), size, p);
/// prev = g.
@inline(never)
func rpropKernel<P: ParameterElements, E: StateElements>(_ s: RpropScalars, _ span: Span, _: P.Type, _: E.Type) {
    let p = P(span), g = P.Gradients(span), prev = span.elements(0, E.self)!, stepSize = span.elements(1, E.self)!
    // Read once: selected between in the loop, fields of `s` were loaded per lane (gathers).
    let etaPlus = s.etaPlus, etaMinus = s.etaMinus, sizeMin = s.stepSizeMin, sizeMax = s.stepSizeMax
    for i in span.start ..< span.end {
        var grad = s.maximize ? -g[i] : g[i]
        let product = grad * prev[i]
        let factor: Float = product > 0 ? etaPlus : product < 0 ? etaMinus : 1
        let grown = stepSize[i] * factor
        let atLeastMin = grown < sizeMin ? sizeMin : grown
        let size = atLeastMin > sizeMax ? sizeMax : atLeastMin
        stepSize[i] = size
        if product < 0 { grad = 0 }
        let sign: Float = grad > 0 ? 1 : grad < 0 ? -1 : 0
        p[i] = p[i].addingProduct(-sign, size)
        prev[i] = grad
    }
}

// MARK: Sparse rows (Adagrad's sparse path, SparseAdam)

// A span here is some rows of a parameter, its pointers at the first of them, and its
// gradient the rows' values: torch's sparse arithmetic, not its dense one.

#if KERNELS_PORTABLE
public struct AdagradRowsScalars {
    public var negClr: Float
    public var eps: Float
    public var maximize: Bool

    public init(negClr: Float, eps: Float, maximize: Bool) {
        self.negClr = negClr
        self.eps = eps
        self.maximize = maximize
    }
}
#endif

/// torch's sparse Adagrad (`_single_tensor_adagrad`, `grad.is_sparse`): sum = sum + g·g
/// (g² rounded first), std = sqrt(sum) + eps, p = fma(g/std, −clr, p).
@inline(never)
func adagradRowsKernel(_ s: AdagradRowsScalars, _ span: Span) {
    let p = span.param, g = span.grad, sum = span.float32(0)!
    for i in span.start ..< span.end {
        let grad = s.maximize ? -g[i] : g[i]
        let acc = sum[i] + grad * grad
        sum[i] = acc
        p[i] = p[i].addingProduct(grad / (acc.squareRoot() + s.eps), s.negClr)
    }
}

#if KERNELS_PORTABLE
public struct SparseAdamScalars {
    public var oneMinusBeta1: Float
    public var oneMinusBeta2: Float
    public var eps: Float
    /// −lr·sqrt(1 − β2^t)/(1 − β1^t), rounded once.
    public var negStepSize: Float
    public var maximize: Bool

    public init(oneMinusBeta1: Float, oneMinusBeta2: Float, eps: Float, negStepSize: Float, maximize: Bool) {
        self.oneMinusBeta1 = oneMinusBeta1
        self.oneMinusBeta2 = oneMinusBeta2
        self.eps = eps
        self.negStepSize = negStepSize
        self.maximize = maximize
    }
}
#endif

/// torch's `sparse_adam`: du = (g − m)·(1−β1), m = m + du; dv = (g·g − v)·(1−β2),
/// v = v + dv; p = p + (−step_size)·(m / (sqrt(v) + eps)).
@inline(never)
func sparseAdamKernel(_ s: SparseAdamScalars, _ span: Span) {
    let p = span.param, g = span.grad, m = span.float32(0)!, v = span.float32(1)!
    for i in span.start ..< span.end {
        let grad = s.maximize ? -g[i] : g[i]
        let mi = m[i] + (grad - m[i]) * s.oneMinusBeta1
        let vi = v[i] + (grad * grad - v[i]) * s.oneMinusBeta2
        m[i] = mi
        v[i] = vi
        p[i] = p[i] + s.negStepSize * (mi / (vi.squareRoot() + s.eps))
    }
}

// MARK: Element helpers

/// The gradient every rule starts from: negated under maximize, then with torch's L2
/// weight decay `g + wd·p` as one fma (`decays`: wd != 0, hoisted out of the loop).
@inline(__always)
func gradient(_ g: Float, _ p: Float, maximize: Bool, weightDecay: Float, decays: Bool) -> Float {
    let d = maximize ? -g : g
    return decays ? d.addingProduct(p, weightDecay) : d
}

/// torch's `lerp(a, b, w)` for a float32 weight: `fma(w, b - a, a)` when |w| < 0.5, else
/// `fma(w - 1, b - a, b)`, which keeps the result exact at both ends.
@inline(__always)
func lerp(_ a: Float, _ b: Float, _ w: Float) -> Float {
    let diff = b - a
    return w.magnitude < 0.5 ? a.addingProduct(w, diff) : b.addingProduct(w - 1, diff)
}

/// torch's `maximum`: NaN if either side is NaN.
@inline(__always)
func nanMaximum(_ a: Float, _ b: Float) -> Float {
    if a.isNaN || b.isNaN { return a + b }
    return a > b ? a : b
}
