import KernelInterface

/// One registered parameter: the caller's buffers (never owned) and the optimizer state
/// Descent owns for it.
final class Parameter {
    /// The caller's memory; it may move (`Optimizer.moveParameter`). Its elements, and
    /// the gradient's, are in `format`: the pointers are typed for float32, the format of
    /// every algorithm; those that take others (`AlgorithmDescription.takesStateFormats`)
    /// read them through the format's kernels.
    var param: UnsafeMutablePointer<Float>
    var grad: UnsafeMutablePointer<Float>?
    /// The element format of the parameter and its gradient (`ElementFormat.parameterFormats`).
    let format: ElementFormat
    /// A sparse gradient in place of `grad` (`Optimizer.setSparseGradient`).
    var sparseGrad: SparseRows?
    /// The storage of the last sparse gradient, kept for the next one.
    var sparseStorage: SparseRows?
    let count: Int
    let group: Int
    /// Its dimensions, row-major; `[count]` until the caller gives a shape. Algorithms
    /// that see a matrix in a parameter (factored or orthogonalized updates) read it.
    var shape: [Int]
    /// Whether Adafactor factors its statistics (torch: `grad.dim() > 1`).
    var isFactored: Bool { shape.count > 1 }
    /// Steps that updated this parameter (torch's `state["step"]`).
    var step: Int64 = 0
    /// State slots (as many as the algorithm has, at most `Span.maxSlots`), allocated on
    /// first use in a `StateArena` the optimizer owns: each slot's memory, in its format
    /// (`format(ofSlot:)`; float32 elements only where that is float32, as scalar state
    /// always is).
    private(set) var slots: [UnsafeMutablePointer<Float>?]
    /// The slots as a span carries them, kept with `slots`: a step builds a span per
    /// parameter, and reading one stored tuple costs less than indexing the array.
    private var spanSlots: Span.Slots = (nil, nil, nil, nil)
    /// Slots that some step has already written (bit i = slot i).
    var writtenSlots: UInt8 = 0
    /// The format of the element-wise slots (the algorithm's `elementwiseSlots`), chosen
    /// when the first is made; scalar state is float32.
    private(set) var stateFormat: ElementFormat = .float32
    /// The algorithm's element-wise slots, and those that take either sign (bit i = slot i).
    let elementwiseSlots: UInt8
    let signedSlots: UInt8
    /// The algorithm's master-copy slot (bit i = slot i; 0 where it has none), and
    /// whether this parameter may keep it: a float32 parameter is its own master.
    let masterSlot: UInt8
    var keepsMaster: Bool { format != .float32 }

    init(param: UnsafeMutablePointer<Float>, grad: UnsafeMutablePointer<Float>?, count: Int, format: ElementFormat,
         group: Int, state: [StateSlot]) {
        self.param = param
        self.grad = grad
        self.count = count
        self.format = format
        self.group = group
        shape = [count]
        slots = Array(repeating: nil, count: state.count)
        elementwiseSlots = StateSlot.mask(state) { $0.shape == .elementwise }
        signedSlots = StateSlot.mask(state) { $0.sign == .any }
        masterSlot = StateSlot.mask(state) { $0.shape == .master }
    }

    /// Of the slots a group needs (`AlgorithmDescription.slotsNeeded`), those this
    /// parameter keeps: no master copy for a float32 parameter.
    func kept(_ needed: UInt8) -> UInt8 {
        keepsMaster ? needed : needed & ~masterSlot
    }

    /// The slots this parameter's next step needs that do not exist yet.
    func missingSlots(_ needed: UInt8) -> UInt8 {
        var missing: UInt8 = 0
        for slot in 0 ..< slots.count where needed & (1 << slot) != 0 && slots[slot] == nil {
            missing |= 1 << slot
        }
        return missing
    }

    /// The format slot `slot` is (or would be) stored in.
    func format(ofSlot slot: Int) -> ElementFormat {
        elementwiseSlots & (1 << slot) != 0 ? stateFormat : .float32
    }

    /// The element-wise slots in a format other than float32.
    var formattedSlots: UInt8 { stateFormat == .float32 ? 0 : elementwiseSlots }

    /// Lets go of slot `slot` (its memory stays with its arena): a master copy that
    /// `master_weights` no longer asks for, so that turning it on again copies the
    /// parameter afresh.
    func drop(slot: Int) {
        slots[slot] = nil
        writtenSlots &= ~(1 << slot)
        switch slot {
        case 0: spanSlots.0 = nil
        case 1: spanSlots.1 = nil
        case 2: spanSlots.2 = nil
        default: spanSlots.3 = nil
        }
    }

    /// Takes `memory` (owned by a `StateArena`) as slot `slot`; element-wise slots are now
    /// in `format`. Every element-wise slot a parameter holds is in one format, so those in
    /// another must be moved along (`Optimizer.stateRequest` asks for them).
    func adopt(_ memory: UnsafeMutableRawPointer, asSlot slot: Int, format: ElementFormat) {
        if elementwiseSlots & (1 << slot) != 0 { stateFormat = format }
        slots[slot] = memory.assumingMemoryBound(to: Float.self)
        switch slot {
        case 0: spanSlots.0 = memory
        case 1: spanSlots.1 = memory
        case 2: spanSlots.2 = memory
        default: spanSlots.3 = memory
        }
    }

    /// All of this parameter's elements, for a step with gradient `grad`. With a master
    /// copy, the kernel updates the copy and rewrites the parameter from it.
    func span(grad: UnsafePointer<Float>, slotsNeeded: UInt8) -> Span {
        var span = Span(param: param, grad: grad, slots: spanSlots, start: 0, end: count, count: count,
                        freshSlots: slotsNeeded & ~writtenSlots)
        span.stateFormat = stateFormat
        span.formattedSlots = formattedSlots
        span.signedSlots = signedSlots
        span.parameterFormat = format
        if keepsMaster, masterSlot & slotsNeeded != 0, let master = slots[masterSlot.trailingZeroBitCount] {
            span.masteredParam = UnsafeMutableRawPointer(param)
            span.param = master
        }
        return span
    }

    /// Rows `rows` (of `rowSize` elements) alone, as a sparse gradient's step updates
    /// them: the span's pointers start at the first row, its gradient is `values`. Every
    /// slot must be element-wise and float32 (those of the sparse rules are: their
    /// algorithms keep float32 state).
    func rowsSpan(_ rows: Range<Int>, rowSize: Int, values: UnsafePointer<Float>) -> Span {
        let offset = rows.lowerBound * rowSize, count = rows.count * rowSize
        func shifted(_ slot: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
            slot.map { $0 + offset * MemoryLayout<Float>.stride }
        }
        let slots = (shifted(spanSlots.0), shifted(spanSlots.1), shifted(spanSlots.2), shifted(spanSlots.3))
        return Span(param: param + offset, grad: values, slots: slots, start: 0, end: count, count: count, freshSlots: 0)
    }

    var byteRange: Range<UInt> { Parameter.byteRange(param, count, format) }

    /// The bytes of a buffer of `count` elements in `format` (a parameter format).
    static func byteRange(_ pointer: UnsafePointer<Float>, _ count: Int, _ format: ElementFormat = .float32) -> Range<UInt> {
        let start = UInt(bitPattern: pointer)
        return start..<(start + UInt(format.byteCount(count)))
    }
}

/// Checks a caller's buffer of `count` elements in `format` (a parameter format):
/// aligned to its element size, and not wrapping around the address space. `name` is
/// built only for an error: a step checks every gradient, and formatting "grads[i]" each
/// time cost more than the check.
func checkBuffer(_ pointer: UnsafePointer<Float>, _ count: Int, _ format: ElementFormat = .float32,
                 name: @autoclosure () -> String) throws(DescentError) {
    let address = UInt(bitPattern: pointer), alignment = UInt(format.byteCount(1))
    guard address % alignment == 0 else {
        throw DescentError(.invalidArgument, "\(name()) is not aligned to \(alignment) bytes (its elements are \(format.name))")
    }
    guard UInt.max - address >= UInt(format.byteCount(count)) else {
        throw DescentError(.invalidArgument, "\(name()) with \(count) elements wraps around the address space")
    }
}
