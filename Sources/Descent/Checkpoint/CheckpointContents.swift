/// A checkpoint decoded and checked on its own: framing, checksums, versions and the
/// range of every field. Whether it fits a given optimizer is the optimizer's check
/// (`Optimizer.loadCheckpoint`). Holds views into the caller's bytes, not copies.
struct CheckpointContents {
    struct ParameterRecord {
        var group: Int
        var count: Int
        var step: Int64
        /// State slots the checkpoint holds for the parameter (bit i = slot i).
        var present: UInt8
        /// Slots some step had written (SGD's first step copies the gradient otherwise).
        var written: UInt8
    }

    struct ScheduleRecord {
        /// The kind tree, as `Schedule.treeDescription` writes it.
        var description: String
        var state: [UInt8]
    }

    var algorithm: Algorithm
    var groups: [Hyperparameters] = []
    var initialLRs: [Double?] = []
    var parameters: [ParameterRecord] = []
    /// Every parameter's present slots, end to end, float32 little-endian.
    var state: UnsafeRawBufferPointer
    var schedules: [ScheduleRecord] = []

    typealias Format = CheckpointFormat

    init(parsing bytes: UnsafeRawBufferPointer) throws(DescentError) {
        var reader = ByteReader(bytes, context: "header")
        let payloads = try Self.sections(&reader)

        var optimizer = ByteReader(payloads[0], context: "section OPTM")
        let id = try optimizer.u32()
        guard let algorithm = Int32(exactly: id).flatMap(Algorithm.init(rawValue:)) else {
            throw DescentError(.corruptCheckpoint, "checkpoint has unknown algorithm id \(id)")
        }
        self.algorithm = algorithm
        let elementType = try optimizer.u32()
        guard elementType == Format.float32 else {
            throw DescentError(.corruptCheckpoint, "checkpoint state has element type code \(elementType); this library reads \(Format.float32) (float32)")
        }
        let slots = try optimizer.u32()
        guard slots == algorithm.description.state.count else {
            throw DescentError(.corruptCheckpoint, "checkpoint has \(slots) state slots per parameter; \(algorithm.name) has \(algorithm.description.state.count)")
        }
        _ = try optimizer.u32()
        let groupCount = try optimizer.count("group count", limit: payloads[1].count / Format.groupRecordSize)
        let parameterCount = try optimizer.count("parameter count", limit: payloads[2].count / Format.parameterRecordSize)
        try optimizer.finish()
        state = payloads[3]

        var groups = ByteReader(payloads[1], context: "section GRPS")
        let optionCount = try groups.u32()
        guard optionCount == Option.allCases.count else {
            throw DescentError(.corruptCheckpoint, "checkpoint groups have \(optionCount) hyperparameters each; this library knows \(Option.allCases.count)")
        }
        _ = try groups.u32()
        for g in 0 ..< groupCount {
            let (hp, initialLR) = try Self.group(&groups, g, algorithm)
            self.groups.append(hp)
            initialLRs.append(initialLR)
        }
        try groups.finish()

        var records = ByteReader(payloads[2], context: "section PARM")
        var stateBytes = 0
        for i in 0 ..< parameterCount {
            let record = try Self.parameter(&records, i, groupCount: groupCount, slots: Int(slots))
            let bytes = record.present.nonzeroBitCount * record.count * MemoryLayout<Float>.stride
            guard bytes <= state.count - stateBytes else {
                throw DescentError(.corruptCheckpoint, "checkpoint section STAT holds \(state.count) bytes, too few for parameter \(i)'s state")
            }
            stateBytes += bytes
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
    }

    /// Checks the file header and every section's framing and CRC; returns the payloads
    /// in `Section.allCases` order.
    private static func sections(_ reader: inout ByteReader) throws(DescentError) -> [UnsafeRawBufferPointer] {
        try checkHeader(try reader.take(headerSizeOrFail(reader.remaining)))
        var payloads: [UnsafeRawBufferPointer] = []
        for section in Format.Section.allCases {
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
        return payloads
    }

    /// The size of a checkpoint of `size` bytes that its header and section lengths
    /// declare, reading only those (`read(offset, count)`): a file loader reads no more
    /// than that, and refuses a file with bytes after the last section before reading
    /// them. Throws what parsing the bytes would; where the framing runs out of bytes,
    /// returns `size` and leaves the message to the parser.
    static func declaredSize(_ size: Int, read: (Int, Int) throws(DescentError) -> UnsafeRawBufferPointer) throws(DescentError) -> Int {
        guard size >= Format.headerSize else { return size }
        try checkHeader(try read(0, Format.headerSize))
        var offset = Format.headerSize
        for (index, section) in Format.Section.allCases.enumerated() {
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

    /// Magic, CRC, version, byte order and section count of the 24-byte file header.
    private static func checkHeader(_ header: UnsafeRawBufferPointer) throws(DescentError) {
        var fields = ByteReader(header, context: "header")
        guard Array(try fields.take(8)) == Format.magic else {
            throw DescentError(.corruptCheckpoint, "not a Descent checkpoint (bad magic)")
        }
        let version = try fields.u32(), mark = try fields.u32(), count = try fields.u32(), stored = try fields.u32()
        let computed = Format.crc(0, UnsafeRawBufferPointer(rebasing: header[..<20]))
        guard stored == computed else {
            throw DescentError(.corruptCheckpoint, "checkpoint header fails its CRC-32C check (stored \(hex(stored)), computed \(hex(computed)))")
        }
        guard version == Format.version else {
            throw DescentError(.corruptCheckpoint, "checkpoint format version \(version) is not supported (this library reads version \(Format.version))")
        }
        guard mark == Format.byteOrderMark else {
            throw DescentError(.corruptCheckpoint, "checkpoint byte-order mark is \(hex(mark)), expected \(hex(Format.byteOrderMark)) (little-endian)")
        }
        guard count == Format.Section.allCases.count else {
            throw DescentError(.corruptCheckpoint, "checkpoint has \(count) sections, format version 1 has \(Format.Section.allCases.count)")
        }
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

    private static func group(_ reader: inout ByteReader, _ g: Int,
                              _ algorithm: Algorithm) throws(DescentError) -> (Hyperparameters, Double?) {
        let hasInitialLR = try reader.u64(), initialLR = try reader.f64()
        guard hasInitialLR <= 1 else {
            throw DescentError(.corruptCheckpoint, "checkpoint group \(g) has a bad initial_lr flag \(hasInitialLR)")
        }
        var hp = Hyperparameters()
        for option in Option.allCases {
            let value = try reader.f64()
            do {
                hp = try hp.setting(option, to: value)
            } catch {
                throw DescentError(.corruptCheckpoint, "checkpoint group \(g): \(error.message)")
            }
        }
        do {
            try hp.validate(for: algorithm)
        } catch {
            throw DescentError(.corruptCheckpoint, "checkpoint group \(g): \(error.message)")
        }
        return (hp, hasInitialLR == 1 ? initialLR : nil)
    }

    private static func parameter(_ reader: inout ByteReader, _ i: Int, groupCount: Int,
                                  slots: Int) throws(DescentError) -> ParameterRecord {
        let group = try reader.u64(), count = try reader.u64(), step = try reader.i64()
        let present = try reader.u8(), written = try reader.u8()
        let padding = try reader.take(6)
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
        return ParameterRecord(group: Int(group), count: Int(count), step: step, present: present, written: written)
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
