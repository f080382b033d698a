import KernelInterface

/// A checkpoint decoded and checked on its own: framing, checksums, versions and the
/// range of every field. Whether it fits a given optimizer is the optimizer's check
/// (`Optimizer.loadCheckpoint`). Holds views into the caller's bytes, not copies. Reads
/// every format version (docs/checkpoint-format.md describes them): each version's own
/// sections decode into the same contents.
struct CheckpointContents {
    struct SlotRecord: Equatable {
        var name: String
        var shape: StateSlot.Shape
        var format: StateSlot.Format
    }

    struct ParameterRecord {
        var group: Int
        var count: Int
        var step: Int64
        /// State slots the checkpoint holds for the parameter (bit i = slot i).
        var present: UInt32
        /// Slots some step had written (SGD's first step copies the gradient otherwise).
        var written: UInt32
        /// Its shape (version 4 on; before, `[count]`), which sizes factored state.
        var shape: [Int]
        /// The format of its element-wise slots (version 5 on; before, float32).
        var stateFormat: ElementFormat
    }

    struct ScheduleRecord {
        /// The kind tree, as `Schedule.treeDescription` writes it.
        var description: String
        var state: [UInt8]
    }

    var version: UInt32
    var algorithm: Algorithm
    /// The state slots, in slot order (version 1: the algorithm's, all float32
    /// element-wise).
    var slots: [SlotRecord]
    var groups: [Hyperparameters] = []
    var initialLRs: [Double?] = []
    var parameters: [ParameterRecord] = []
    /// Every parameter's present slots, end to end, each in its slot's format.
    var state: UnsafeRawBufferPointer
    var schedules: [ScheduleRecord] = []
    /// LBFGS's state (section ALGS), nil where the checkpoint has none.
    var lbfgs: LBFGSRecord?

    typealias Format = CheckpointFormat

    init(parsing bytes: UnsafeRawBufferPointer) throws(DescentError) {
        var reader = ByteReader(bytes, context: "header")
        let (version, payloads) = try Self.sections(&reader)
        self.version = version
        state = payloads[3]

        var optimizer = ByteReader(payloads[0], context: "section OPTM")
        algorithm = try Self.algorithm(&optimizer)
        guard version > 1 || Format.algorithmsV1.contains(algorithm) else {
            throw DescentError(.corruptCheckpoint, "checkpoint format version 1 has no algorithm id \(algorithm.rawValue)")
        }
        let recordSize = version == 1 ? Format.groupRecordSizeV1 : Format.groupHeaderSizeV2
        let groupCount: Int, parameterCount: Int
        if version == 1 {
            let elementType = try optimizer.u32()
            guard elementType == Format.float32 else {
                throw DescentError(.corruptCheckpoint, "checkpoint state has element type code \(elementType); this library reads \(Format.float32) (float32)")
            }
            let slotCount = try optimizer.u32(), known = Format.slots(of: algorithm.description, version: version)
            guard slotCount == known.count else {
                throw DescentError(.corruptCheckpoint, "checkpoint has \(slotCount) state slots per parameter; \(algorithm.name) had \(known.count)")
            }
            _ = try optimizer.u32()
            slots = known.map { SlotRecord(name: $0.name, shape: .elementwise, format: .float32) }
            groupCount = try optimizer.count("group count", limit: payloads[1].count / recordSize)
            parameterCount = try optimizer.count("parameter count", limit: payloads[2].count / Format.parameterRecordSize)
        } else {
            _ = try optimizer.u32()
            groupCount = try optimizer.count("group count", limit: payloads[1].count / recordSize)
            parameterCount = try optimizer.count("parameter count", limit: payloads[2].count / Format.parameterRecordSize)
            slots = try Self.slots(&optimizer)
        }
        try optimizer.finish()

        var groups = ByteReader(payloads[1], context: "section GRPS")
        if version == 1 {
            let optionCount = try groups.u32()
            guard optionCount == Format.optionsV1.count else {
                throw DescentError(.corruptCheckpoint, "checkpoint groups have \(optionCount) hyperparameters each; format version 1 has \(Format.optionsV1.count)")
            }
            _ = try groups.u32()
        }
        for g in 0 ..< groupCount {
            let (hp, initialLR) = version == 1 ? try Self.groupV1(&groups, g, algorithm)
                                               : try Self.groupV2(&groups, g, algorithm)
            self.groups.append(hp)
            initialLRs.append(initialLR)
        }
        try groups.finish()

        var records = ByteReader(payloads[2], context: "section PARM")
        var stateBytes = 0
        for i in 0 ..< parameterCount {
            let record = try Self.parameter(&records, i, version: version, groupCount: groupCount, slots: slots.count)
            // Each slot checked against what is left before it is added: no sum can
            // overflow, whatever sizes a crafted checkpoint declares.
            for (s, slot) in slots.enumerated() where record.present & (1 << s) != 0 {
                let bytes = slot.byteCount(for: record.shape, stateFormat: record.stateFormat)
                guard bytes <= state.count - stateBytes else {
                    throw DescentError(.corruptCheckpoint, "checkpoint section STAT holds \(state.count) bytes, too few for parameter \(i)'s state")
                }
                stateBytes += bytes
            }
            parameters.append(record)
        }
        try records.finish()
        guard stateBytes == state.count else {
            throw DescentError(.corruptCheckpoint, "checkpoint section STAT holds \(state.count) bytes, its parameters need \(stateBytes)")
        }

        var schedules = ByteReader(payloads[4], context: "section SCHD")
        let scheduleCount = try schedules.count("schedule count", limit: payloads[4].count / 16)
        for _ in 0 ..< scheduleCount {
            let description = try schedules.take(schedules.count("description size", limit: schedules.remaining))
            let state = try schedules.take(schedules.count("state size", limit: schedules.remaining))
            self.schedules.append(ScheduleRecord(description: String(decoding: description, as: UTF8.self),
                                                 state: Array(state)))
        }
        try schedules.finish()

        if payloads.count > 5, payloads[5].count > 0 {
            var reader = ByteReader(payloads[5], context: "section ALGS")
            lbfgs = try LBFGSRecord(&reader)
            try reader.finish()
        }
    }

    private static func algorithm(_ reader: inout ByteReader) throws(DescentError) -> Algorithm {
        let id = try reader.u32()
        guard let algorithm = Int32(exactly: id).flatMap(Algorithm.init(rawValue:)) else {
            throw DescentError(.corruptCheckpoint, "checkpoint has unknown algorithm id \(id)")
        }
        return algorithm
    }

    /// Version 2's slot list: count, then per slot shape, format, name.
    private static func slots(_ reader: inout ByteReader) throws(DescentError) -> [SlotRecord] {
        let count = Int(try reader.u32())
        _ = try reader.u32()
        guard count <= Format.maxSlots else {
            throw DescentError(.corruptCheckpoint, "checkpoint has \(count) state slots per parameter; a format version 2 checkpoint has at most \(Format.maxSlots)")
        }
        var slots: [SlotRecord] = []
        for s in 0 ..< count {
            let shapeCode = try reader.u8(), formatCode = try reader.u8()
            _ = try reader.take(2)
            let name = try reader.take(Int(try reader.u32()))
            guard let shape = StateSlot.Shape(rawValue: shapeCode), let format = StateSlot.Format(rawValue: formatCode) else {
                throw DescentError(.corruptCheckpoint, "checkpoint state slot \(s) has shape code \(shapeCode) and format code \(formatCode); this library reads shapes 1 (element-wise), 2 (scalar), 3 (rows), 4 (columns) and 5 (master copy), format 1 (float32)")
            }
            slots.append(SlotRecord(name: String(decoding: name, as: UTF8.self), shape: shape, format: format))
        }
        return slots
    }

    /// Checks the file header and every section's framing and CRC; returns the payloads
    /// in `Section.allCases` order.
    private static func sections(_ reader: inout ByteReader) throws(DescentError) -> (UInt32, [UnsafeRawBufferPointer]) {
        let version = try checkHeader(try reader.take(headerSizeOrFail(reader.remaining)))
        var payloads: [UnsafeRawBufferPointer] = []
        for section in Format.sections(version: version) {
            reader.context = "section \(section.rawValue)"
            let start = reader.offset
            let tag = try reader.u32(), reserved = try reader.u32()
            let length = try reader.count("payload length", limit: max(reader.remaining - 4, 0))
            try checkFraming(section, index: payloads.count, tag: tag, reserved: reserved)
            let payload = try reader.take(length)
            let stored = try reader.u32()
            let computed = Format.crc(0, UnsafeRawBufferPointer(rebasing: reader.bytes[start ..< start + 16 + length]))
            guard stored == computed else {
                throw DescentError(.corruptCheckpoint, "checkpoint section \(section.rawValue) fails its CRC-32C check (stored \(hex(stored)), computed \(hex(computed)))")
            }
            payloads.append(payload)
        }
        try checkNothingAfter(reader.remaining)
        return (version, payloads)
    }

    /// The size of a checkpoint of `size` bytes that its header and section lengths
    /// declare, reading only those (`read(offset, count)`): a file loader reads no more
    /// than that, and refuses a file with bytes after the last section before reading
    /// them. Throws what parsing the bytes would; where the framing runs out of bytes,
    /// returns `size` and leaves the message to the parser.
    static func declaredSize(_ size: Int, read: (Int, Int) throws(DescentError) -> UnsafeRawBufferPointer) throws(DescentError) -> Int {
        guard size >= Format.headerSize else { return size }
        let version = try checkHeader(try read(0, Format.headerSize))
        var offset = Format.headerSize
        for (index, section) in Format.sections(version: version).enumerated() {
            guard size - offset >= 16 else { return size }
            var framing = ByteReader(try read(offset, 16), context: "section \(section.rawValue)")
            let tag = try framing.u32(), reserved = try framing.u32()
            let length = try framing.count("payload length", limit: max(size - offset - Format.sectionFraming, 0))
            try checkFraming(section, index: index, tag: tag, reserved: reserved)
            offset += Format.sectionFraming + length
        }
        try checkNothingAfter(size - offset)
        return offset
    }

    private static func headerSizeOrFail(_ remaining: Int) throws(DescentError) -> Int {
        guard remaining >= Format.headerSize else {
            throw DescentError(.corruptCheckpoint, "not a Descent checkpoint: \(remaining) bytes, shorter than the \(Format.headerSize)-byte header")
        }
        return Format.headerSize
    }

    /// Magic, CRC, version, byte order and section count of the 24-byte file header;
    /// returns the format version.
    private static func checkHeader(_ header: UnsafeRawBufferPointer) throws(DescentError) -> UInt32 {
        var fields = ByteReader(header, context: "header")
        guard Array(try fields.take(8)) == Format.magic else {
            throw DescentError(.corruptCheckpoint, "not a Descent checkpoint (bad magic)")
        }
        let version = try fields.u32(), mark = try fields.u32(), count = try fields.u32(), stored = try fields.u32()
        let computed = Format.crc(0, UnsafeRawBufferPointer(rebasing: header[..<20]))
        guard stored == computed else {
            throw DescentError(.corruptCheckpoint, "checkpoint header fails its CRC-32C check (stored \(hex(stored)), computed \(hex(computed)))")
        }
        guard Format.readableVersions.contains(version) else {
            throw DescentError(.corruptCheckpoint, "checkpoint format version \(version) is not supported (this library reads versions \(Format.readableVersions.lowerBound) to \(Format.readableVersions.upperBound))")
        }
        guard mark == Format.byteOrderMark else {
            throw DescentError(.corruptCheckpoint, "checkpoint byte-order mark is \(hex(mark)), expected \(hex(Format.byteOrderMark)) (little-endian)")
        }
        let expected = Format.sections(version: version).count
        guard count == expected else {
            throw DescentError(.corruptCheckpoint, "checkpoint has \(count) sections, format version \(version) has \(expected)")
        }
        return version
    }

    private static func checkFraming(_ section: Format.Section, index: Int, tag: UInt32, reserved: UInt32) throws(DescentError) {
        guard tag == section.tag else {
            throw DescentError(.corruptCheckpoint, "checkpoint section \(index) is \(tagName(tag)), expected '\(section.rawValue)'")
        }
        guard reserved == 0 else {
            throw DescentError(.corruptCheckpoint, "checkpoint section \(section.rawValue) has reserved word \(hex(reserved)), expected 0")
        }
    }

    private static func checkNothingAfter(_ remaining: Int) throws(DescentError) {
        guard remaining == 0 else {
            throw DescentError(.corruptCheckpoint, "checkpoint has \(remaining) unexpected bytes after its last section")
        }
    }

    /// Version 1's group: initial_lr flag (u64) and value, then every option of
    /// `Format.optionsV1` in id order.
    private static func groupV1(_ reader: inout ByteReader, _ g: Int,
                                _ algorithm: Algorithm) throws(DescentError) -> (Hyperparameters, Double?) {
        let hasInitialLR = try reader.u64(), initialLR = try reader.f64()
        var values: [(Option, Double)] = []
        for option in Format.optionsV1 {
            let value = try reader.f64()
            if algorithm.options.contains(option) { values.append((option, value)) }
        }
        return (try group(g, values, algorithm), try initialLROrFail(g, hasInitialLR, initialLR))
    }

    /// Version 2's group: initial_lr flag (u32), pair count (u32), initial_lr, then
    /// (option id u32, reserved u32, value f64) pairs; an option missing takes the
    /// algorithm's default.
    private static func groupV2(_ reader: inout ByteReader, _ g: Int,
                                _ algorithm: Algorithm) throws(DescentError) -> (Hyperparameters, Double?) {
        let hasInitialLR = try reader.u32(), pairCount = try reader.u32(), initialLR = try reader.f64()
        guard pairCount <= UInt32(algorithm.options.count) else {
            throw DescentError(.corruptCheckpoint, "checkpoint group \(g) has \(pairCount) hyperparameters; \(algorithm.name) has \(algorithm.options.count)")
        }
        var values: [(Option, Double)] = []
        for _ in 0 ..< pairCount {
            let id = try reader.u32(), reserved = try reader.u32(), value = try reader.f64()
            guard let option = Int32(exactly: id).flatMap(Option.init(rawValue:)), reserved == 0 else {
                throw DescentError(.corruptCheckpoint, "checkpoint group \(g) has unknown option id \(id)")
            }
            values.append((option, value))
        }
        return (try group(g, values, algorithm), try initialLROrFail(g, UInt64(hasInitialLR), initialLR))
    }

    /// The algorithm's defaults with `values` set, validated as a group's are.
    private static func group(_ g: Int, _ values: [(Option, Double)], _ algorithm: Algorithm) throws(DescentError) -> Hyperparameters {
        do {
            let hp = try algorithm.description.defaults.setting(values, for: algorithm)
            try hp.validate(for: algorithm)
            return hp
        } catch {
            throw DescentError(.corruptCheckpoint, "checkpoint group \(g): \(error.message)")
        }
    }

    private static func initialLROrFail(_ g: Int, _ flag: UInt64, _ value: Double) throws(DescentError) -> Double? {
        guard flag <= 1 else {
            throw DescentError(.corruptCheckpoint, "checkpoint group \(g) has a bad initial_lr flag \(flag)")
        }
        guard flag == 0 || (value.isFinite && value >= 0) else {
            throw DescentError(.corruptCheckpoint, "checkpoint group \(g) has initial_lr \(pythonRepr(value)); an lr must be finite and >= 0")
        }
        return flag == 1 ? value : nil
    }

    /// 32 bytes: group, element count, step count, then the slot masks (version 1: u8
    /// present, u8 written, 6 bytes of padding; version 2: u32 present, u32 written).
    private static func parameter(_ reader: inout ByteReader, _ i: Int, version: UInt32, groupCount: Int,
                                  slots: Int) throws(DescentError) -> ParameterRecord {
        let group = try reader.u64(), count = try reader.u64(), step = try reader.i64()
        let present: UInt32, written: UInt32, padding: UnsafeRawBufferPointer
        if version == 1 {
            present = UInt32(try reader.u8())
            written = UInt32(try reader.u8())
            padding = try reader.take(6)
        } else {
            present = try reader.u32()
            written = try reader.u32()
            padding = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        guard group < groupCount else {
            throw DescentError(.corruptCheckpoint, "checkpoint parameter \(i) is in group \(group), but there are \(groupCount) groups")
        }
        guard count > 0, count <= UInt64(Optimizer.maxCount) else {
            throw DescentError(.corruptCheckpoint, "checkpoint parameter \(i) has \(count) elements")
        }
        guard (0...Optimizer.maxStepCount).contains(step) else {
            throw DescentError(.corruptCheckpoint, "checkpoint parameter \(i) has step count \(step)")
        }
        guard present >> slots == 0, written & ~present == 0, padding.allSatisfy({ $0 == 0 }) else {
            throw DescentError(.corruptCheckpoint, "checkpoint parameter \(i) has bad state slot masks (present \(present), written \(written))")
        }
        var shape = [Int(count)], stateFormat = ElementFormat.float32
        if version >= 4 { (shape, stateFormat) = try Self.shape(&reader, i, count: Int(count), version: version) }
        return ParameterRecord(group: Int(group), count: Int(count), step: step, present: present, written: written,
                               shape: shape, stateFormat: stateFormat)
    }

    /// Version 4's shape after a parameter record: its dimension count, the state format
    /// (version 5; a reserved 0 in version 4), then each dimension; their product must be
    /// the element count.
    private static func shape(_ reader: inout ByteReader, _ i: Int, count: Int,
                              version: UInt32) throws(DescentError) -> ([Int], ElementFormat) {
        let dimensionCount = try reader.u32()
        let formatCode = try reader.u32()
        guard dimensionCount <= Optimizer.maxDimensions else {
            throw DescentError(.corruptCheckpoint, "checkpoint parameter \(i) has \(dimensionCount) dimensions (at most \(Optimizer.maxDimensions))")
        }
        let stateFormat = version == 4 && formatCode == 0 ? .float32 : UInt8(exactly: formatCode).flatMap(ElementFormat.init)
        guard let stateFormat, version >= 5 || formatCode == 0 else {
            throw DescentError(.corruptCheckpoint, "checkpoint parameter \(i) has state format code \(formatCode); this library reads \(ElementFormat.allCases.map { "\($0.rawValue) (\($0.name))" }.joined(separator: ", "))")
        }
        var shape: [Int] = []
        var product = 1
        for _ in 0 ..< dimensionCount {
            let size = try reader.u64()
            guard size > 0, size <= UInt64(count / product) else {
                throw DescentError(.corruptCheckpoint, "checkpoint parameter \(i) has a shape that does not hold its \(count) elements")
            }
            product *= Int(size)
            shape.append(Int(size))
        }
        guard product == count else {
            throw DescentError(.corruptCheckpoint, "checkpoint parameter \(i) has shape \(shape) of \(product) elements, not its \(count)")
        }
        return (shape, stateFormat)
    }
}

func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

/// A section tag for a message: its four characters when printable, else its value.
private func tagName(_ tag: UInt32) -> String {
    let bytes = (0 ..< 4).map { UInt8(truncatingIfNeeded: tag >> (8 * $0)) }
    guard bytes.allSatisfy({ (0x20 ..< 0x7F).contains($0) }) else { return hex(tag) }
    return "'" + String(decoding: bytes, as: UTF8.self) + "'"
}
