import KernelInterface

/// Saving and loading an optimizer's complete state: its groups' hyperparameters, every
/// parameter's state and step count, and the schedules attached to it. The parameters'
/// values are the caller's and are not saved (as in torch's optimizer state_dict).
extension Optimizer {
    typealias Format = CheckpointFormat

    /// The size in bytes of a checkpoint taken now.
    public func checkpointSize() -> Int {
        let schedules = scheduleRecords()
        var size = Format.headerSize + Format.Section.allCases.count * Format.sectionFraming
        size += optimizerPayload().count + groupsPayload().count + parametersPayload().count
        size += stateSize + schedulesPayload(schedules).count
        let (record, vectors) = lbfgs.state.checkpointPieces(algorithm)
        size += record.count + vectors.reduce(0) { $0 + $1.count }
        return size
    }

    /// The checkpoint as bytes.
    public func checkpoint() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(checkpointSize())
        writeCheckpoint { piece in bytes += piece }
        return bytes
    }

    /// Writes the checkpoint to the start of `buffer`; returns its size. Fails, having
    /// written nothing, when the buffer is too small.
    public func saveCheckpoint(into buffer: UnsafeMutableRawBufferPointer) throws(DescentError) -> Int {
        let size = checkpointSize()
        guard buffer.count >= size else {
            throw DescentError(.invalidArgument, "buffer of \(buffer.count) bytes is too small for the checkpoint (\(size) bytes)")
        }
        var offset = 0
        writeCheckpoint { piece in
            UnsafeMutableRawBufferPointer(rebasing: buffer[offset ..< offset + piece.count]).copyMemory(from: piece)
            offset += piece.count
        }
        return offset
    }

    /// Streams the checkpoint to `sink` piece by piece: the state is not copied first.
    func writeCheckpoint(_ sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var header = ByteWriter()
        header.raw(Format.magic)
        header.u32(Format.version)
        header.u32(Format.byteOrderMark)
        header.u32(UInt32(Format.Section.allCases.count))
        header.bytes.withUnsafeBytes { header.u32(Format.crc(0, $0)) }
        let payloads: [(Format.Section, [UInt8])] = [
            (.optimizer, optimizerPayload()), (.groups, groupsPayload()), (.parameters, parametersPayload()),
        ]

        try header.bytes.withUnsafeBytes { bytes in try sink(bytes) }
        for (section, payload) in payloads {
            try payload.withUnsafeBytes { bytes in try emit(section, [bytes], sink) }
        }
        let slots = algorithm.description.state
        let state = parameters.flatMap { parameter in
            parameter.presentSlots.map {
                UnsafeRawBufferPointer(start: parameter.slots[$0], count: parameter.byteCount(ofSlot: $0, slots[$0]))
            }
        }
        try emit(.state, state, sink)
        try schedulesPayload(scheduleRecords()).withUnsafeBytes { bytes in
            try emit(.schedules, [bytes], sink)
        }
        let (record, vectors) = lbfgs.state.checkpointPieces(algorithm)
        try record.withUnsafeBytes { bytes in try emit(.algorithmState, [bytes] + vectors, sink) }
    }

    /// Frames one section: its header, the payload pieces, the CRC of both.
    private func emit(_ section: Format.Section, _ pieces: [UnsafeRawBufferPointer],
                      _ sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var framing = ByteWriter()
        framing.u32(section.tag)
        framing.u32(0)
        framing.u64(UInt64(pieces.reduce(0) { $0 + $1.count }))
        var crc: UInt32 = 0
        try framing.bytes.withUnsafeBytes { bytes in
            crc = Format.crc(0, bytes)
            try sink(bytes)
        }
        for piece in pieces {
            crc = Format.crc(crc, piece)
            try sink(piece)
        }
        try withUnsafeBytes(of: crc.littleEndian) { bytes in try sink(bytes) }
    }

    /// Algorithm, group and parameter counts, then each state slot: shape, format, name.
    private func optimizerPayload() -> [UInt8] {
        var writer = ByteWriter()
        writer.u32(UInt32(algorithm.rawValue))
        writer.u32(0)
        writer.u64(UInt64(groups.count))
        writer.u64(UInt64(parameters.count))
        let slots = algorithm.description.state
        writer.u32(UInt32(slots.count))
        writer.u32(0)
        for slot in slots {
            writer.u8(slot.shape.rawValue)
            writer.u8(slot.format.rawValue)
            writer.zeros(2)
            let name = Array(slot.name.utf8)
            writer.u32(UInt32(name.count))
            writer.raw(name)
        }
        return writer.bytes
    }

    /// Per group: initial_lr, then every option of the algorithm as (id, value).
    private func groupsPayload() -> [UInt8] {
        var writer = ByteWriter()
        let options = algorithm.options
        for (hp, initialLR) in zip(groups, initialLRs) {
            writer.u32(initialLR == nil ? 0 : 1)
            writer.u32(UInt32(options.count))
            writer.f64(initialLR ?? 0)
            for option in options {
                writer.u32(UInt32(option.rawValue))
                writer.u32(0)
                writer.f64(hp[option])
            }
        }
        return writer.bytes
    }

    private func parametersPayload() -> [UInt8] {
        var writer = ByteWriter()
        for parameter in parameters {
            writer.u64(UInt64(parameter.group))
            writer.u64(UInt64(parameter.count))
            writer.i64(parameter.step)
            writer.u32(UInt32(parameter.presentMask))
            writer.u32(UInt32(parameter.writtenSlots & parameter.presentMask))
            writer.u32(UInt32(parameter.shape.count))
            writer.u32(UInt32(parameter.stateFormat.rawValue))
            for size in parameter.shape { writer.u64(UInt64(size)) }
        }
        return writer.bytes
    }

    private var stateSize: Int {
        let slots = algorithm.description.state
        return parameters.reduce(0) { total, parameter in
            total + parameter.presentSlots.reduce(0) { $0 + parameter.byteCount(ofSlot: $1, slots[$1]) }
        }
    }

    private func scheduleRecords() -> [CheckpointContents.ScheduleRecord] {
        attachedSchedules.map { .init(description: $0.treeDescription, state: $0.saveState()) }
    }

    private func schedulesPayload(_ records: [CheckpointContents.ScheduleRecord]) -> [UInt8] {
        var writer = ByteWriter()
        writer.u64(UInt64(records.count))
        for record in records {
            let description = Array(record.description.utf8)
            writer.u64(UInt64(description.count))
            writer.raw(description)
            writer.u64(UInt64(record.state.count))
            writer.raw(record.state)
        }
        return writer.bytes
    }

    // MARK: Loading

    /// Restores a checkpoint of an optimizer like this one: the same algorithm, groups,
    /// parameter sizes (in registration order) and schedules (created in the same order).
    /// Everything is checked before anything changes: on failure the optimizer and its
    /// schedules are as they were. Kinds: `.corruptCheckpoint` (not a valid checkpoint),
    /// `.mismatch` (a valid one of a different optimizer), `.outOfMemory`.
    public func loadCheckpoint(_ bytes: UnsafeRawBufferPointer) throws(DescentError) {
        let contents = try CheckpointContents(parsing: bytes)
        try check(contents)
        // Made before anything changes: allocating may fail.
        let lbfgsState = try contents.lbfgs.map { record throws(DescentError) in try record.state() }
        let schedules = attachedSchedules
        // Each parameter's state in the checkpoint's format (its old state, in another, is
        // replaced).
        let requests = zip(parameters, contents.parameters).compactMap { parameter, record in
            stateRequest(parameter, UInt8(truncatingIfNeeded: record.present), format: record.stateFormat)
        }
        try transaction(restoring: schedules) { () throws(DescentError) in
            for (i, (schedule, record)) in zip(schedules, contents.schedules).enumerated() {
                do throws(DescentError) {
                    var coder = try StateCoder(reading: record.state)
                    try schedule.codeTree(&coder)
                    try coder.finish()
                    try schedule.validateTree()
                } catch {
                    throw DescentError(.corruptCheckpoint, "checkpoint schedule \(i) (\(record.description)): \(error.message)")
                }
            }
            groups = contents.groups
            initialLRs = contents.initialLRs
            try allocateState(requests)
        }
        // Nothing below can fail.
        var offset = 0
        for (parameter, record) in zip(parameters, contents.parameters) {
            for (slot, layout) in contents.slots.enumerated() {
                guard let buffer = parameter.slots[slot] else { continue }
                if record.present & (1 << slot) != 0 {
                    let bytes = layout.byteCount(for: parameter.shape, stateFormat: record.stateFormat)
                    UnsafeMutableRawPointer(buffer).copyMemory(from: contents.state.baseAddress! + offset, byteCount: bytes)
                    offset += bytes
                } else {
                    // The checkpoint has no such state: make it as a first step finds it.
                    initialize(slot: slot, of: parameter, UnsafeMutableRawPointer(buffer), parameter.format(ofSlot: slot))
                }
            }
            parameter.writtenSlots = UInt8(truncatingIfNeeded: record.written)
            parameter.step = record.step
        }
        if algorithm.description.traits.contains(.needsClosure) {
            lbfgs.state = lbfgsState ?? LBFGSState()
        }
    }

    /// Checks that a valid checkpoint belongs to an optimizer like this one.
    private func check(_ contents: CheckpointContents) throws(DescentError) {
        guard contents.algorithm == algorithm else {
            throw DescentError(.mismatch, "checkpoint is of a \(contents.algorithm.name) optimizer, this one is \(algorithm.name)")
        }
        let slots = CheckpointFormat.slots(of: algorithm.description, version: contents.version).map {
            CheckpointContents.SlotRecord(name: $0.name, shape: $0.shape, format: $0.format)
        }
        guard contents.slots == slots else {
            func list(_ slots: [CheckpointContents.SlotRecord]) -> String { slots.map(\.name).joined(separator: ", ") }
            throw DescentError(.mismatch, "checkpoint holds \(algorithm.name) state slots [\(list(contents.slots))] in other shapes or formats than this library's [\(list(slots))]")
        }
        guard contents.groups.count == groups.count else {
            throw DescentError(.mismatch, "checkpoint has \(contents.groups.count) param groups, this optimizer has \(groups.count)")
        }
        guard contents.parameters.count == parameters.count else {
            throw DescentError(.mismatch, "checkpoint has \(contents.parameters.count) parameters, this optimizer has \(parameters.count)")
        }
        let shapedState = algorithm.description.state.contains(where: \.dependsOnShape)
        for (i, (parameter, record)) in zip(parameters, contents.parameters).enumerated() {
            guard record.count == parameter.count else {
                throw DescentError(.mismatch, "parameter \(i) has \(record.count) elements in the checkpoint, \(parameter.count) in this optimizer")
            }
            guard record.group == parameter.group else {
                throw DescentError(.mismatch, "parameter \(i) is in group \(record.group) in the checkpoint, in group \(parameter.group) in this optimizer")
            }
            // Where state depends on shapes (Adafactor's factors), they must agree (files
            // before version 4 hold none); the element-wise algorithms ignore them.
            if shapedState, contents.version < 4 || record.shape != parameter.shape {
                throw DescentError(.mismatch, "parameter \(i) has shape \(contents.version < 4 ? "(none: format version \(contents.version))" : "\(record.shape)") in the checkpoint, \(parameter.shape) in this optimizer (\(algorithm.name)'s state depends on it)")
            }
            guard record.stateFormat == .float32 || algorithm.description.takesStateFormats else {
                throw DescentError(.corruptCheckpoint, "checkpoint holds parameter \(i)'s state in \(record.stateFormat.name); \(algorithm.name) keeps float32 state")
            }
            let slots = algorithm.description.state, hp = contents.groups[record.group]
            for (s, slot) in slots.enumerated() where record.present & (1 << s) != 0 {
                guard slot.isKept(by: hp, factored: parameter.isFactored) else {
                    throw DescentError(.corruptCheckpoint, "checkpoint holds '\(slot.name)' for parameter \(i) of shape \(parameter.shape), which keeps none")
                }
                guard slot.shape != .master || parameter.keepsMaster else {
                    throw DescentError(.mismatch, "checkpoint holds '\(slot.name)' for parameter \(i), which is float32 in this optimizer (its own master)")
                }
            }
        }
        if let record = contents.lbfgs {
            let numel = parameters.reduce(0) { $0 + $1.count }
            guard algorithm.description.traits.contains(.needsClosure) else {
                throw DescentError(.corruptCheckpoint, "checkpoint holds LBFGS state for a \(algorithm.name) optimizer")
            }
            guard record.numel == 0 || record.numel == numel else {
                throw DescentError(.mismatch, "checkpoint's LBFGS vectors have \(record.numel) elements, this optimizer's parameters \(numel)")
            }
        }
        let schedules = attachedSchedules.map(\.treeDescription)
        let saved = contents.schedules.map(\.description)
        guard schedules == saved else {
            func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }
            throw DescentError(.mismatch, "checkpoint has schedules [\(list(saved))], this optimizer has [\(list(schedules))] (create the same schedules, in the same order, before loading)")
        }
    }
}

extension Parameter {
    /// The bytes slot `slot` (described by `kind`) takes in its format.
    func byteCount(ofSlot slot: Int, _ kind: StateSlot) -> Int {
        format(ofSlot: slot).byteCount(kind.elements(for: shape))
    }

    /// The slots that exist, in slot order.
    var presentSlots: [Int] { slots.indices.filter { slots[$0] != nil } }

    var presentMask: UInt8 { presentSlots.reduce(0) { $0 | 1 << $1 } }
}
