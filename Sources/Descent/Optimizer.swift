import KernelInterface

/// An optimizer: one algorithm, its parameter groups (each with its own
/// hyperparameters), the caller's parameter and gradient buffers, and the state Descent
/// keeps for them. Every mutating call validates first and then applies, so a call that
/// throws has changed nothing. Not thread-safe: callers serialize access.
public final class Optimizer {
    public let algorithm: Algorithm
    /// The hyperparameters a group gets when it is added without its own.
    public let defaults: Hyperparameters
    /// Internal so that a schedule can snapshot and restore them (all-or-nothing steps).
    var groups: [Hyperparameters] = []
    /// torch's `group["initial_lr"]`: set by the first schedule created on the group and
    /// read by later ones as their base lr (OneCycleLR overwrites it).
    var initialLRs: [Double?] = []
    var parameters: [Parameter] = []
    private var index = BufferIndex()
    /// The memory of every parameter's state.
    private var arenas: [StateArena] = []
    /// The schedules created on this optimizer, in creation order; a schedule that is
    /// freed drops out. Checkpoints save the ones that no composite owns.
    private var schedules: [WeakSchedule] = []
    /// L-BFGS's state (torch keeps it under the first parameter); empty for the others.
    let lbfgs = LBFGSStorage()
    /// Muon's scratch memory, kept from one step to the next (megabytes that a fresh
    /// allocation would fault in page by page each step); nil for the others.
    var muonScratch: MuonScratch?

    /// Counts above this are rejected: they are either a negative count converted to an
    /// unsigned type or more memory than any machine has.
    static let maxCount = Int.max / 64

    public init(algorithm: Algorithm, defaults: Hyperparameters? = nil) throws(DescentError) {
        self.defaults = try (defaults ?? .defaults(for: algorithm)).resolved(for: algorithm, atConstruction: true)
        self.algorithm = algorithm
    }

    // MARK: Groups

    public var groupCount: Int { groups.count }

    /// Adds a group and returns its index.
    @discardableResult
    public func addGroup(_ hyperparameters: Hyperparameters? = nil) throws(DescentError) -> Int {
        let hp = try (hyperparameters ?? defaults).resolved(for: algorithm)
        if algorithm.description.traits.contains(.singleGroup), !groups.isEmpty {
            throw DescentError(.unsupported, "\(algorithm.name) doesn't support per-parameter options (parameter groups)")
        }
        groups.append(hp)
        initialLRs.append(nil)
        return groups.count - 1
    }

    public func hyperparameters(ofGroup group: Int) throws(DescentError) -> Hyperparameters {
        try checkGroup(group)
        return groups[group]
    }

    public func setHyperparameters(_ hp: Hyperparameters, ofGroup group: Int) throws(DescentError) {
        try checkGroup(group)
        groups[group] = try hp.resolved(for: algorithm)
    }

    public func value(of option: Option, inGroup group: Int) throws(DescentError) -> Double {
        try checkOption(option)
        return try hyperparameters(ofGroup: group)[option]
    }

    public func set(_ option: Option, to value: Double, inGroup group: Int) throws(DescentError) {
        try checkOption(option)
        try setHyperparameters(try hyperparameters(ofGroup: group).setting(option, to: value),
                               ofGroup: group)
    }

    private func checkGroup(_ group: Int) throws(DescentError) {
        guard groups.indices.contains(group) else {
            throw DescentError(.outOfRange, "group index \(group) is out of range (the optimizer has \(groups.count) groups)")
        }
    }

    private func checkOption(_ option: Option) throws(DescentError) {
        guard algorithm.options.contains(option) else {
            throw DescentError(.unknownOption, "\(algorithm.name) has no hyperparameter '\(option.name)'")
        }
    }

    // MARK: Schedules

    /// Called by every schedule as it is created.
    func attach(_ schedule: Schedule) {
        schedules.removeAll { $0.schedule == nil }
        schedules.append(WeakSchedule(schedule: schedule))
    }

    /// The live schedules on this optimizer that no composite owns, in creation order.
    var attachedSchedules: [Schedule] {
        schedules.compactMap(\.schedule).filter { $0.owner == nil }
    }

    /// Runs `body`; if it throws, puts back the groups' hyperparameters and initial lrs
    /// and the saved state of `schedules` as they were.
    func transaction(restoring schedules: [Schedule], _ body: () throws(DescentError) -> Void) throws(DescentError) {
        let groups = self.groups
        let initialLRs = self.initialLRs
        let states = schedules.map { $0.saveState() }
        do {
            try body()
        } catch {
            self.groups = groups
            self.initialLRs = initialLRs
            for (schedule, state) in zip(schedules, states) {
                // The bytes are the schedule's own: reading them back cannot fail.
                guard var coder = try? StateCoder(reading: state) else { continue }
                try? schedule.codeTree(&coder)
            }
            throw error
        }
    }

    // MARK: Parameters

    public var parameterCount: Int { parameters.count }

    /// Registers a caller-owned parameter of `count` elements in `format` (its gradient's
    /// too) into `group` and returns its index (registration order over all groups).
    /// `grad` may be nil (no gradient yet). Formats other than float32 are for the
    /// algorithms that take state formats (`AlgorithmDescription.takesStateFormats`).
    @discardableResult
    public func addParameter(group: Int, param: UnsafeMutablePointer<Float>, grad: UnsafeMutablePointer<Float>?,
                             count: Int, format: ElementFormat = .float32) throws(DescentError) -> Int {
        try checkGroup(group)
        guard count > 0 else {
            throw DescentError(.invalidArgument, "numel must be positive, got \(count)")
        }
        guard count <= Self.maxCount else {
            throw DescentError(.invalidArgument, "numel \(count) is too large (a negative count passed as size_t?)")
        }
        guard ElementFormat.parameterFormats.contains(format) else {
            throw DescentError(.invalidArgument, "a parameter's format is one of \(ElementFormat.parameterFormats.map(\.name).joined(separator: ", ")), got \(format.name)")
        }
        guard format == .float32 || algorithm.description.takesStateFormats else {
            throw DescentError(.unsupported, "\(algorithm.name) takes float32 parameters only, got \(format.name)")
        }
        try checkBuffer(param, count, format, name: "param")
        let range = Parameter.byteRange(param, count, format)
        if let other = index.overlapping(range) {
            if other.range == range {
                throw DescentError(.duplicateParameter, "param is already registered (parameter \(other.index))")
            }
            throw DescentError(.overlap, "param overlaps registered parameter \(other.index)")
        }
        if let grad {
            try checkBuffer(grad, count, format, name: "grad")
            if Parameter.byteRange(grad, count, format).overlaps(range) {
                throw DescentError(.overlap, "grad overlaps its own param")
            }
            try checkGradient(grad, count, format, of: parameters.count)
        }
        let parameter = Parameter(param: param, grad: grad, count: count, format: format, group: group,
                                  state: algorithm.description.state)
        parameters.append(parameter)
        index.insert(range, index: parameters.count - 1)
        return parameters.count - 1
    }

    /// Follows parameter `parameter` to new memory of the same size (a framework re-pointed
    /// it after the optimizer was built: ZeRO's bucket views, FSDP2's swaps): the next step
    /// updates `param`, and the optimizer state carries over. Throws, changing nothing, on a
    /// bad buffer or one that overlaps another parameter or the parameter's gradient.
    public func moveParameter(_ parameter: Int, to param: UnsafeMutablePointer<Float>) throws(DescentError) {
        try checkParameter(parameter)
        let moved = parameters[parameter]
        try checkBuffer(param, moved.count, moved.format, name: "param")
        let range = Parameter.byteRange(param, moved.count, moved.format)
        if let grad = moved.grad, Parameter.byteRange(grad, moved.count, moved.format).overlaps(range) {
            throw DescentError(.overlap, "param overlaps its own grad")
        }
        index.remove(index: parameter)  // its old memory may overlap the new: not a conflict
        if let other = index.overlapping(range) {
            index.insert(moved.byteRange, index: parameter)
            throw DescentError(.overlap, "param overlaps registered parameter \(other.index)")
        }
        index.insert(range, index: parameter)
        moved.param = param
    }

    /// The element format of parameter `parameter` and its gradient.
    public func parameterFormat(_ parameter: Int) throws(DescentError) -> ElementFormat {
        try checkParameter(parameter)
        return parameters[parameter].format
    }

    /// Re-points (or, with nil, removes) the gradient of parameter `parameter`.
    public func setGradient(_ grad: UnsafeMutablePointer<Float>?, ofParameter parameter: Int) throws(DescentError) {
        try checkParameter(parameter)
        if let grad {
            let count = parameters[parameter].count, format = parameters[parameter].format
            try checkBuffer(grad, count, format, name: "grad")
            try checkGradient(grad, count, format, of: parameter)
        }
        parameters[parameter].grad = grad
        parameters[parameter].sparseGrad = nil
    }

    /// The most dimensions a shape may have (the header's DESCENT_MAX_DIMS).
    public static let maxDimensions = 32

    /// Gives parameter `parameter` a shape: row-major dimensions whose product is its
    /// element count (none: a scalar, one element). Element-wise algorithms ignore it.
    public func setShape(_ dimensions: [Int], ofParameter parameter: Int) throws(DescentError) {
        try checkParameter(parameter)
        guard dimensions.count <= Self.maxDimensions else {
            throw DescentError(.invalidArgument, "a shape has at most \(Self.maxDimensions) dimensions, got \(dimensions.count)")
        }
        var product = 1
        for (axis, size) in dimensions.enumerated() {
            guard size > 0 else {
                throw DescentError(.invalidArgument, "dimension \(axis) of the shape is \(size); dimensions must be positive")
            }
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            guard !overflow, next <= parameters[parameter].count else {
                throw DescentError(.invalidArgument, "shape \(dimensions) has more elements than parameter \(parameter) (\(parameters[parameter].count))")
            }
            product = next
        }
        guard product == parameters[parameter].count else {
            throw DescentError(.invalidArgument, "shape \(dimensions) has \(product) elements, parameter \(parameter) has \(parameters[parameter].count)")
        }
        let shaped = algorithm.description.state.indices.filter { algorithm.description.state[$0].dependsOnShape }
        if dimensions != parameters[parameter].shape, shaped.contains(where: { parameters[parameter].slots[$0] != nil }) {
            throw DescentError(.invalidState, "parameter \(parameter) has \(algorithm.name) state made for shape \(parameters[parameter].shape); its shape cannot change")
        }
        parameters[parameter].shape = dimensions
    }

    public func shape(ofParameter parameter: Int) throws(DescentError) -> [Int] {
        try checkParameter(parameter)
        return parameters[parameter].shape
    }

    /// The step counts of parameters `first` ..< `first + count` (unsigned: a negative
    /// count passed as size_t is a range past the end, refused).
    public func stepCounts(ofParameters first: UInt, count: UInt) throws(DescentError) -> [Int64] {
        let (end, overflow) = first.addingReportingOverflow(count)
        guard !overflow, end <= UInt(parameters.count) else {
            throw DescentError(.outOfRange, "parameters \(first) ..< \(first) + \(count) are out of range (the optimizer has \(parameters.count) parameters)")
        }
        return parameters[Int(first) ..< Int(end)].map(\.step)
    }

    public func stepCount(ofParameter parameter: Int) throws(DescentError) -> Int64 {
        try checkParameter(parameter)
        return parameters[parameter].step
    }

    /// The state buffer `name` (torch's key, e.g. "exp_avg") of parameter `parameter`:
    /// `count` floats (one for a scalar slot) that the caller may read and write between
    /// steps, or nil while no step has needed it yet. It lives until the optimizer does
    /// (and is the state until the parameter's state moves to another format:
    /// `state_dtype`). State in another format than float32 is refused: see
    /// `stateMemory`, `readState`, `writeState`.
    public func state(named name: String, ofParameter parameter: Int) throws(DescentError) -> UnsafeMutablePointer<Float>? {
        let slot = try slotIndex(name, ofParameter: parameter)
        let p = parameters[parameter]
        guard p.slots[slot] == nil || p.format(ofSlot: slot) == .float32 else {
            throw notFloat32(name, of: parameter, p.format(ofSlot: slot))
        }
        return p.slots[slot]
    }

    /// The format state `name` of parameter `parameter` is kept in (or will be, when it is
    /// made now).
    public func stateFormat(named name: String, ofParameter parameter: Int) throws(DescentError) -> ElementFormat {
        let slot = try slotIndex(name, ofParameter: parameter)
        let p = parameters[parameter]
        if p.slots[slot] != nil { return p.format(ofSlot: slot) }
        return p.elementwiseSlots & (1 << slot) == 0 ? .float32
            : algorithm.description.stateFormat(groups[p.group], count: p.count)
    }

    /// State `name` of parameter `parameter` as stored, in its format (`stateFormat`): its
    /// bytes (8-bit: the codes, then the absmax values at `Blockwise8Bit.absmaxOffset`),
    /// or nil while no step has needed it yet.
    public func stateMemory(named name: String, ofParameter parameter: Int,
                            create: Bool = false) throws(DescentError) -> UnsafeMutableRawBufferPointer? {
        let slot = try slotIndex(name, ofParameter: parameter)
        let p = parameters[parameter]
        if create { _ = try createSlot(slot, ofParameter: parameter) }
        guard let memory = p.slots[slot] else { return nil }
        let elements = algorithm.description.state[slot].elements(for: p.shape)
        return UnsafeMutableRawBufferPointer(start: memory, count: p.format(ofSlot: slot).byteCount(elements))
    }

    /// The code map state `name` of parameter `parameter` is quantized with, when it is
    /// 8-bit (by the slot's sign).
    public func codeBook(named name: String, ofParameter parameter: Int) throws(DescentError) -> CodeBook {
        let slot = try slotIndex(name, ofParameter: parameter)
        return .forState(signed: parameters[parameter].signedSlots & (1 << slot) != 0)
    }

    /// Copies state `name` of parameter `parameter` into `values` as float32 (decoded from
    /// its format); false, with nothing written, while the state does not exist.
    public func readState(named name: String, ofParameter parameter: Int,
                          into values: UnsafeMutablePointer<Float>, count: UInt) throws(DescentError) -> Bool {
        let slot = try slotIndex(name, ofParameter: parameter)
        let p = parameters[parameter], elements = try checkStateBuffer(count, slot: slot, of: parameter)
        guard let memory = p.slots[slot] else { return false }
        StateCoding.read(memory, p.format(ofSlot: slot), count: elements, signed: p.signedSlots & (1 << slot) != 0,
                         into: values)
        return true
    }

    /// Sets state `name` of parameter `parameter` from float32 `values`, encoded in the
    /// state's format (created first, as `createState` does).
    public func writeState(named name: String, ofParameter parameter: Int,
                           from values: UnsafePointer<Float>, count: UInt) throws(DescentError) {
        let slot = try slotIndex(name, ofParameter: parameter)
        let elements = try checkStateBuffer(count, slot: slot, of: parameter)
        let memory = try createSlot(slot, ofParameter: parameter)
        let p = parameters[parameter]
        StateCoding.write(values, to: memory, p.format(ofSlot: slot), count: elements,
                          signed: p.signedSlots & (1 << slot) != 0)
    }

    /// The slot of state `name`, for a valid parameter index.
    private func slotIndex(_ name: String, ofParameter parameter: Int) throws(DescentError) -> Int {
        try checkParameter(parameter)
        guard let slot = algorithm.description.stateNames.firstIndex(of: name) else {
            let names = algorithm.description.stateNames.joined(separator: ", ")
            throw DescentError(.unknownOption, "\(algorithm.name) has no state '\(name)' (it has: \(names))")
        }
        return slot
    }

    /// Checks that a buffer of `count` floats holds slot `slot` of parameter `parameter`
    /// (which its shape keeps); returns the slot's element count.
    private func checkStateBuffer(_ count: UInt, slot: Int, of parameter: Int) throws(DescentError) -> Int {
        try checkKept(slot: slot, ofParameter: parameter)
        let kind = algorithm.description.state[slot], elements = kind.elements(for: parameters[parameter].shape)
        guard count == UInt(elements) else {
            throw DescentError(.invalidArgument, "state '\(kind.name)' of parameter \(parameter) has \(elements) elements, the buffer \(count)")
        }
        return elements
    }

    /// torch's shape of state `name` of parameter `parameter` (whether or not it exists
    /// yet): the parameter's shape for element-wise state, none for a scalar, the
    /// parameter's with a dimension of 1 for Adafactor's factors.
    public func stateShape(named name: String, ofParameter parameter: Int) throws(DescentError) -> [Int] {
        let slot = try slotIndex(name, ofParameter: parameter)
        try checkKept(slot: slot, ofParameter: parameter)
        return algorithm.description.state[slot].shape.dimensions(for: parameters[parameter].shape)
    }

    /// Refuses state slot `slot` where the parameter's shape keeps none (Adafactor's
    /// `variance` of a matrix, `row_var` of a vector), and a master copy of a float32
    /// parameter.
    private func checkKept(slot: Int, ofParameter parameter: Int) throws(DescentError) {
        let slots = algorithm.description.state, p = parameters[parameter], hp = groups[p.group]
        if p.kept(1 << slot) == 0 {
            throw DescentError(.invalidArgument, "parameter \(parameter) is float32, its own master: it keeps no '\(slots[slot].name)'")
        }
        if !slots[slot].isKept(by: hp, factored: p.isFactored) {
            let kept = slots.filter { $0.needed.readsShape && $0.isKept(by: hp, factored: p.isFactored) }
            throw DescentError(.invalidArgument, "\(algorithm.name) keeps no '\(slots[slot].name)' for parameter \(parameter) of shape \(p.shape); for that shape it keeps \(kept.map(\.name).joined(separator: ", "))")
        }
    }

    /// Like `state(named:ofParameter:)`, but creates the buffer if no step has yet (filled
    /// as a first step would find it), so that saved state can be restored into a fresh
    /// optimizer. A buffer made here counts as written: SGD will not overwrite a restored
    /// momentum buffer with the next gradient.
    public func createState(named name: String, ofParameter parameter: Int) throws(DescentError) -> UnsafeMutablePointer<Float> {
        let slot = try slotIndex(name, ofParameter: parameter)
        let p = parameters[parameter]
        let format = p.elementwiseSlots & (1 << slot) == 0 ? .float32 : wantedFormat(p)
        guard format == .float32 else { throw notFloat32(name, of: parameter, format) }
        return try createSlot(slot, ofParameter: parameter).assumingMemoryBound(to: Float.self)
    }

    private func notFloat32(_ name: String, of parameter: Int, _ format: ElementFormat) -> DescentError {
        DescentError(.invalidState, "state '\(name)' of parameter \(parameter) is kept in \(format.name), not float32; read and write it as float32 values, or as stored")
    }

    /// Slot `slot` of `parameter`, made (in the format its group asks for, its other
    /// element-wise slots moved along) if it does not exist.
    private func createSlot(_ slot: Int, ofParameter parameter: Int) throws(DescentError) -> UnsafeMutableRawPointer {
        let p = parameters[parameter]
        try checkKept(slot: slot, ofParameter: parameter)
        if p.slots[slot] == nil || p.stateFormat != wantedFormat(p), let request = stateRequest(p, 1 << slot) {
            try allocateState([request])
        }
        p.writtenSlots |= 1 << slot
        return UnsafeMutableRawPointer(p.slots[slot]!)
    }

    /// Sets the step count of parameter `parameter` (restoring saved state).
    public func setStepCount(_ step: Int64, ofParameter parameter: Int) throws(DescentError) {
        try checkParameter(parameter)
        guard (0...Self.maxStepCount).contains(step) else {
            throw DescentError(.invalidArgument, "step count must be in 0...2**53, got \(step)")
        }
        parameters[parameter].step = step
    }

    /// The largest step count a parameter holds, as schedules bound theirs: exact as a
    /// Double (the per-step scalars read it as one), and far from Int64's overflow.
    public static let maxStepCount = maxSteps

    func checkParameter(_ parameter: Int) throws(DescentError) {
        guard parameters.indices.contains(parameter) else {
            throw DescentError(.outOfRange, "parameter index \(parameter) is out of range (the optimizer has \(parameters.count) parameters)")
        }
    }

    private func checkGradient(_ grad: UnsafePointer<Float>, _ count: Int, _ format: ElementFormat,
                               of parameter: Int) throws(DescentError) {
        if let other = index.overlapping(Parameter.byteRange(grad, count, format)) {
            let whose = other.index == parameter ? "its own param" : "registered parameter \(other.index)"
            throw DescentError(.overlap, "grad of parameter \(parameter) overlaps \(whose)")
        }
    }

    // MARK: Step

    /// One step over every parameter that has a gradient, with the registered gradients.
    public func step() throws(DescentError) {
        _ = try step(options: StepOptions())
    }

    /// One step with this step's gradients, one per parameter in registration order
    /// (nil skips the parameter). The registered gradients are not used.
    public func step(gradients: [UnsafePointer<Float>?]) throws(DescentError) {
        // Default options never write a gradient, so read-only buffers are safe here.
        _ = try step(gradients: gradients.map { $0.map(UnsafeMutablePointer.init(mutating:)) },
                     options: StepOptions())
    }

    /// The whole optimizer phase with the registered gradients: unscale, inf/NaN check,
    /// clip, step and zero as `options` ask (see `StepOptions`). Throws, having changed
    /// nothing, on bad options, on inf/NaN under the `.error` policy or
    /// `errorIfNonfinite`, or when state memory runs out.
    public func step(options: StepOptions) throws(DescentError) -> StepReport {
        try options.validate()
        return try phase(parameters.map(\.grad), options)
    }

    /// Like `step(options:)` with this step's gradients, one per parameter (nil skips it).
    public func step(gradients: [UnsafeMutablePointer<Float>?], options: StepOptions) throws(DescentError) -> StepReport {
        guard gradients.count == parameters.count else {
            throw DescentError(.invalidArgument, "expected \(parameters.count) gradients (one per parameter), got \(gradients.count)")
        }
        for (i, grad) in gradients.enumerated() {
            if let grad {
                try checkBuffer(grad, parameters[i].count, parameters[i].format, name: "grads[\(i)]")
                try checkGradient(grad, parameters[i].count, parameters[i].format, of: i)
            }
        }
        try options.validate()
        return try phase(gradients, options)
    }

    /// torch's `step(closure)`: `closure` recomputes the loss and fills the registered
    /// gradients, and returns the loss. L-BFGS calls it as often as its iterations and
    /// line search need; every other algorithm calls it once, then steps. Returns the
    /// loss of the first call. An error from the closure is thrown: for the others
    /// nothing has changed, for L-BFGS see `lbfgsStep`.
    public func step(closure: () throws(DescentError) -> Double) throws(DescentError) -> Double {
        if algorithm.description.traits.contains(.needsClosure) { return try lbfgsStep(closure) }
        let loss = try closure()
        try step()
        return loss
    }

    /// The phase with the algorithm's rule as a concrete type (its description's
    /// `runPhase`).
    private func phase(_ gradients: [UnsafeMutablePointer<Float>?], _ options: StepOptions) throws(DescentError) -> StepReport {
        try algorithm.description.runPhase(self, gradients, options)
    }

    /// The phase of an element-wise rule: its update pass is one `StepPlan` run.
    func phase<Rule: UpdateRule>(_ passed: [UnsafeMutablePointer<Float>?], _ options: StepOptions,
                                 rule: Rule.Type) throws(DescentError) -> StepReport {
        try phase(passed, options) { gradients, transform, zero in
            update(gradients, rule: rule, transform: transform, zero: zero).elementCount
        }
    }

    /// Decides from the reduction pass (when one is needed) whether and how to step, then
    /// allocates state and runs `update` (over the parameters with a gradient, each
    /// gradient rewritten by the transform before it is read and zeroed after, when
    /// asked; it returns the elements it updated, and cannot fail).
    func phase(_ passed: [UnsafeMutablePointer<Float>?], _ options: StepOptions,
               update: (_ gradients: [UnsafeMutablePointer<Float>?], _ transform: GradientTransform?,
                        _ zero: Bool) -> Int) throws(DescentError) -> StepReport {
        var report = StepReport()
        var transform = options.gradScale == 1 ? nil : GradientTransform(scale: Float(options.gradScale))
        var gradients = passed
        let sparseGradients = algorithm.description.sparseGradients
        // The sparse gradients of the parameters that have no dense one for this step.
        let sparse = parameters.indices.compactMap { i in
            gradients[i] == nil ? parameters[i].sparseGrad.map { (index: i, rows: $0) } : nil
        }
        if case let .onlyRows(_, denseRefused) = sparseGradients, gradients.contains(where: { $0 != nil }) {
            throw DescentError(.unsupported, denseRefused)
        }
        // SGD steps a sparse gradient as the dense one it is, made for this step.
        let denseCopies = try densified(sparseGradients, sparse)
        defer { release(denseCopies) }
        for (i, buffer) in denseCopies { gradients[i] = buffer }
        // The sparse gradients the algorithm steps by rows (none where it densified them).
        let rowRule = sparseGradients.rowRule
        let byRows = rowRule == nil ? [] : sparse
        for (i, _) in byRows {
            try rowRule!.checkSparse(groups[parameters[i].group])
            // Rows start anywhere: they would split quantization blocks. The format the
            // state will have (a step converts state whose group asks for another first).
            let format = wantedFormat(parameters[i])
            guard format == .float32 else {
                throw DescentError(.unsupported, "parameter \(i) has a sparse gradient, which needs float32 state; its state is \(format.name) (state_dtype of group \(parameters[i].group))")
            }
        }
        let sparseValues = byRows.map { ($0.rows.values, $0.rows.elementCount) }
        // Gradients that the phase writes must not share memory: a shared element would
        // be unscaled twice, or zeroed before its second reader.
        var buffers: GradientBuffers?
        if options.rewritesGradients {
            buffers = try GradientBuffers(checking: gradients.enumerated().map { i, grad in
                (grad, grad == nil ? 0 : parameters[i].count, parameters[i].format)
            } + sparseValues.map { (Optional($0.0), $0.1, .float32) })
        } else if options.needsReduction {
            buffers = gradientBuffers(gradients, plus: sparseValues)
        }
        // A zeroed sparse gradient keeps no rows (torch's zero_()): done where the phase
        // returns, never on an error (which changes nothing).
        func zeroSparse() { if options.zeroGradients { sparse.forEach { $0.rows.removeAll() } } }
        if options.foundInf {
            report.foundNonfinite = true
            zeroSparse()
            return skip(.foundInf, buffers, options, report)
        }
        if options.needsReduction {
            var normType = try NormType(2)
            if case let .norm(_, p, _) = options.clip { normType = try NormType(p) }
            let (norm, nonfinite) = buffers!.plan.gradientNorm(
                normType, scale: Float(options.gradScale), threads: Runtime.threadCount)
            report.foundNonfinite = nonfinite
            if nonfinite, options.nonfinite == .error {
                throw DescentError(.nonfinite, "a gradient holds inf or NaN (nonfinite policy: error); nothing was changed")
            }
            if case let .norm(maxNorm, p, errorIfNonfinite) = options.clip {
                if errorIfNonfinite, !norm.isFinite { throw nonfiniteNorm(p) }
                let coefficient = clipCoefficient(maxNorm: maxNorm, totalNorm: norm)
                report.totalNorm = Double(norm)
                report.clipCoefficient = Double(coefficient)
                transform = GradientTransform(scale: Float(options.gradScale), coefficient: coefficient)
            }
            if nonfinite, options.nonfinite == .skip {
                zeroSparse()
                return skip(.nonfinite, buffers, options, report)
            }
        }
        if case let .value(limit) = options.clip {
            transform = GradientTransform(scale: Float(options.gradScale), clipValue: Float(limit))
        }
        let byRowsIndices = Set(byRows.map(\.index))
        try allocateState(for: gradients.indices.map { gradients[$0] != nil || byRowsIndices.contains($0) })
        report.parametersUpdated = gradients.count { $0 != nil }
        report.elementsUpdated = update(gradients, transform, options.zeroGradients)
        if let rowRule {
            updateRows(byRows, rule: rowRule, transform: transform)
            report.parametersUpdated += byRows.count
            report.elementsUpdated += byRows.reduce(0) { $0 + $1.rows.elementCount }
        }
        zeroSparse()
        return report
    }

    /// A skipped step: only the gradients are zeroed, when asked (`buffers` is then set).
    private func skip(_ reason: StepReport.Skip, _ buffers: GradientBuffers?,
                      _ options: StepOptions, _ report: StepReport) -> StepReport {
        var report = report
        report.skip = reason
        if options.zeroGradients { buffers?.zero() }
        return report
    }

    /// Allocates the state this step needs (`stepping`: each parameter's step has a
    /// gradient): if memory runs out, nothing has changed. A
    /// step would count one more step for every parameter with a gradient: refused here,
    /// before anything changes, where that passes `maxStepCount`.
    private func allocateState(for stepping: [Bool]) throws(DescentError) {
        var requests: [StateRequest] = []
        // Once per group and factoring, not per parameter: the description's conditions
        // read options and whether a parameter is factored.
        let description = algorithm.description
        let needed = [false, true].map { factored in groups.map { description.slotsNeeded($0, factored: factored) } }
        for (i, (parameter, steps)) in zip(parameters, stepping).enumerated() where steps {
            guard parameter.step < Self.maxStepCount else {
                throw DescentError(.invalidState, "parameter \(i) has taken \(parameter.step) steps, the most a step count holds (2**53)")
            }
            if let request = stateRequest(parameter, needed[parameter.isFactored ? 1 : 0][parameter.group]) {
                requests.append(request)
            }
        }
        try allocateState(requests)
    }

    /// Writes the values slot `slot` of `parameter` starts with, when it is made (now),
    /// into `memory` in `format`: its initial value, or for a master copy the
    /// parameter's values.
    func initialize(slot: Int, of parameter: Parameter, _ memory: UnsafeMutableRawPointer, _ format: ElementFormat) {
        let kind = algorithm.description.state[slot], count = kind.elements(for: parameter.shape)
        let signed = parameter.signedSlots & (1 << slot) != 0
        if case .parameter = kind.initialValue {
            StateCoding.convert(UnsafeRawPointer(parameter.param), from: parameter.format, to: memory, format,
                                count: count, signed: signed)
        } else {
            StateCoding.fill(memory, format, count: count, signed: signed,
                             with: algorithm.description.initialValue(ofSlot: slot, defaults: defaults,
                                                                      group: groups[parameter.group]))
        }
    }

    /// The format `parameter`'s element-wise state is to be in (its group's `state_dtype`).
    func wantedFormat(_ parameter: Parameter) -> ElementFormat {
        algorithm.description.stateFormat(groups[parameter.group], count: parameter.count)
    }

    /// What to allocate so that `parameter` holds the slots `slots` in `format`: those
    /// missing, and those it holds in another format (moved, their values converted, when
    /// its group's `state_dtype` changed); nil when nothing is.
    func stateRequest(_ parameter: Parameter, _ slots: UInt8, format: ElementFormat? = nil) -> StateRequest? {
        let format = format ?? wantedFormat(parameter)
        var wanted = parameter.missingSlots(parameter.kept(slots))
        if parameter.stateFormat != format { wanted |= parameter.presentMask & parameter.elementwiseSlots }
        return wanted == 0 ? nil : StateRequest(parameter: parameter, slots: wanted, format: format)
    }

    func allocateState(_ requests: [StateRequest]) throws(DescentError) {
        guard !requests.isEmpty,
              let arena = try StateArena.allocate(requests, algorithm.description,
                                                  initialize: { initialize(slot: $0, of: $1, $2, $3) }) else { return }
        arenas.append(arena)
    }

    /// Counts the step of every parameter with a gradient, computes its scalars (once
    /// per group and step count) and runs the kernels over all of them together, each
    /// span's gradient rewritten just before (`transform`) and zeroed just after.
    private func update<Rule: UpdateRule>(_ gradients: [UnsafeMutablePointer<Float>?], rule: Rule.Type,
                                          transform: GradientTransform?, zero: Bool) -> StepPlan<Rule.Scalars> {
        var plan = StepPlan<Rule.Scalars>()
        plan.reserve(parameters.count)
        var scalarsKey: (group: Int, step: Int64)?
        // The slots of the group of the parameter before, and whether it rounds
        // stochastically: groups change rarely in the registration order, so the
        // description is read once per run of a group.
        var needed: (group: Int, factored: Bool, slots: UInt8, stochastic: Bool)?
        let description = algorithm.description
        for (index, (parameter, grad)) in zip(parameters, gradients).enumerated() {
            guard let grad else { continue }
            parameter.step += 1
            // The group is read only here (a copy of its hyperparameters retains their storage).
            if Rule.readsScalarState || scalarsKey?.group != parameter.group || scalarsKey?.step != parameter.step {
                plan.addScalars(Rule.scalars(groups[parameter.group], step: parameter.step, algorithm: algorithm,
                                             state: parameter.slots))
                scalarsKey = (parameter.group, parameter.step)
            }
            if needed?.group != parameter.group || needed?.factored != parameter.isFactored {
                let hp = groups[parameter.group]
                needed = (parameter.group, parameter.isFactored, description.slotsNeeded(hp, factored: parameter.isFactored),
                          hp.isSet(.stochasticRounding))
            }
            let slots = parameter.kept(needed!.slots)
            // A master copy that `master_weights` no longer asks for is let go: the
            // parameter is its own master again.
            if parameter.masterSlot & ~slots != 0, parameter.slots[parameter.masterSlot.trailingZeroBitCount] != nil {
                parameter.drop(slot: parameter.masterSlot.trailingZeroBitCount)
            }
            var span = parameter.span(grad: grad, slotsNeeded: slots)
            if needed!.stochastic { span.roundingSeed = roundingSeed(parameter: index, step: parameter.step) }
            plan.add(span)
            parameter.writtenSlots |= slots
        }
        let table = Runtime.kernels
        // By the formats of a span's parameter and state (only float32 where the
        // algorithm takes no other): looked up once per step, not per span.
        let float32 = table.update(Rule.Scalars.self)!
        let kernels = ElementFormat.parameterFormats.map { parameter in
            ElementFormat.stateFormats.map { table.update(Rule.Scalars.self, parameter: parameter, state: $0) }
        }
        func kernel(_ span: Span) -> UpdateKernelFunction {
            guard span.parameterFormat != .float32 || span.stateFormat != .float32 else { return float32 }
            return kernels[ElementFormat.parameterFormats.firstIndex(of: span.parameterFormat)!][
                ElementFormat.stateFormats.firstIndex(of: span.stateFormat)!]!
        }
        if transform == nil, !zero {
            plan.run({ scalars, span in withUnsafePointer(to: scalars) { kernel(span)($0, span) } },
                     threads: Runtime.threadCount)
        } else {
            plan.run({ scalars, span in
                if let transform { span.transformGradient(transform, table) }
                withUnsafePointer(to: scalars) { kernel(span)($0, span) }
                if zero { span.zeroGradient() }
            }, threads: Runtime.threadCount)
        }
        return plan
    }

    /// The seed of stochastic rounding for parameter `parameter`'s step `step`: a mix
    /// (splitmix64's finalizer) of the two, so that every step of every parameter rounds
    /// with noise of its own, and the same noise whenever it is replayed (a resumed run).
    private func roundingSeed(parameter: Int, step: Int64) -> UInt32 {
        var x = UInt64(parameter) << 40 ^ UInt64(bitPattern: step)
        x = (x ^ x >> 30) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ x >> 27) &* 0x94D0_49BB_1331_11EB
        return UInt32(truncatingIfNeeded: x ^ x >> 31)
    }

    /// The gradients of the parameters that have one, and the sparse values `plus`, for
    /// the gradient passes.
    private func gradientBuffers(_ gradients: [UnsafeMutablePointer<Float>?],
                                 plus extra: [(UnsafeMutablePointer<Float>, Int)] = []) -> GradientBuffers {
        GradientBuffers(validated: zip(parameters, gradients).compactMap { parameter, grad in
            grad.map { ($0, parameter.count, parameter.format) }
        } + extra.map { ($0.0, $0.1, .float32) })
    }

    /// Fills every registered gradient with zeros (on the step's threads); a sparse one
    /// is left with no rows, as torch's `zero_()` leaves it.
    public func zeroGrad() {
        gradientBuffers(parameters.map(\.grad)).zero()
        for parameter in parameters { parameter.sparseGrad?.removeAll() }
    }
}
