import Checksum
import KernelInterface

#if !_endian(little)
#error("the checkpoint code writes and reads little-endian memory directly")
#endif

/// The layout of a checkpoint (documented for readers in docs/checkpoint-format.md):
///
///     file header   magic "DSCNTCKP", format version, byte-order mark, section count,
///                   CRC-32C of the header
///     sections      OPTM, GRPS, PARM, STAT, SCHD (and ALGS from version 3), in this
///                   order, each framed as
///                   tag (4 ASCII bytes), reserved u32 (0), payload length u64,
///                   payload, CRC-32C of tag + reserved + length + payload
///
/// Every integer is little-endian; state is in each slot's format (IEEE-754 binary32,
/// little-endian; from version 5 a parameter's element-wise slots in its state format;
/// from version 6 slot lists may hold a master copy, shape 5).
/// Version 6 is written; versions 1 to 6 are read.
enum CheckpointFormat {
    static let magic: [UInt8] = Array("DSCNTCKP".utf8)
    static let version: UInt32 = 6
    static let readableVersions: ClosedRange<UInt32> = 1 ... 6
    /// Written as a little-endian u32: a reader on either byte order sees whether the
    /// writer agreed with it.
    static let byteOrderMark: UInt32 = 0x0A0B_0C0D
    static let headerSize = 24
    /// Tag, reserved word and payload length before each payload; the CRC after it.
    static let sectionFraming = 16 + 4
    /// Version 1's element type code of all state: IEEE-754 binary32, little-endian.
    static let float32: UInt32 = 1

    enum Section: String, CaseIterable {
        /// algorithm, group and parameter counts, the state slots (name, shape, format)
        case optimizer = "OPTM"
        /// per group: torch's initial_lr and its hyperparameters as (option id, value)
        case groups = "GRPS"
        /// per parameter: group, element count, step count, state slot masks, from
        /// version 4 its shape, from version 5 its state format
        case parameters = "PARM"
        /// every parameter's present state slots, in order, each in its format
        case state = "STAT"
        /// the attached schedules' states
        case schedules = "SCHD"
        /// the state an algorithm keeps over all its parameters together (LBFGS's);
        /// empty for the others (version 3 on)
        case algorithmState = "ALGS"

        var tag: UInt32 {
            rawValue.utf8.reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
    }

    /// The sections of a checkpoint of format version `version`, in order.
    static func sections(version: UInt32) -> [Section] {
        version >= 3 ? Section.allCases : Section.allCases.filter { $0 != .algorithmState }
    }

    /// The state slots a checkpoint of format version `version` lists for an algorithm:
    /// before version 6, the algorithms that take state formats had no master copy (their
    /// last slot).
    static func slots(of description: AlgorithmDescription, version: UInt32) -> [StateSlot] {
        version < 6 ? description.state.filter { $0.shape != .master } : description.state
    }

    static let parameterRecordSize = 32
    /// Slot masks are u32: at most this many slots per parameter.
    static let maxSlots = 32

    /// The options version 1 stored for every group, whatever the algorithm: ids 1 to 14
    /// (descent_params' fields), in id order. Frozen: later options are not in it.
    static let optionsV1: [Option] = (1 ... 14).map { Option(rawValue: $0)! }
    /// The algorithms version 1 knew (ids 1 to 5); a later one in a version 1 file is
    /// corrupt.
    static let algorithmsV1: [Algorithm] = (1 ... 5).map { Algorithm(rawValue: $0)! }
    /// Version 1, per group: initial_lr presence (u64), initial_lr (f64), one f64 per
    /// option of `optionsV1`.
    static let groupRecordSizeV1 = 16 + 8 * optionsV1.count
    /// Version 2, per group: initial_lr presence (u32), pair count (u32), initial_lr (f64),
    /// then 16 bytes per (option id, value) pair; a group with no pairs has only these 16.
    static let groupHeaderSizeV2 = 16


    static func crc(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        descent_crc32c(crc, bytes.baseAddress, bytes.count)
    }
}

/// Little-endian encoding into a growing byte array (the small sections).
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
    mutating func f64(_ value: Double) { u64(value.bitPattern) }
    mutating func f32(_ value: Float) { u32(value.bitPattern) }
    mutating func raw(_ value: [UInt8]) { bytes += value }
    mutating func zeros(_ count: Int) { bytes += repeatElement(0, count: count) }
}

/// Bounds-checked little-endian decoding of untrusted bytes: every read that would run
/// past the end throws a corrupt-checkpoint error naming `context`.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0
    /// What is being read, for messages.
    var context: String

    init(_ bytes: UnsafeRawBufferPointer, context: String) {
        self.bytes = bytes
        self.context = context
    }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int) throws(DescentError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else {
            throw DescentError(.corruptCheckpoint, "checkpoint is truncated: \(context) needs \(count) more bytes, \(remaining) remain")
        }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + count])
    }

    mutating func u8() throws(DescentError) -> UInt8 { try take(1)[0] }
    mutating func u32() throws(DescentError) -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws(DescentError) -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }
    mutating func i64() throws(DescentError) -> Int64 { Int64(bitPattern: try u64()) }
    mutating func f64() throws(DescentError) -> Double { Double(bitPattern: try u64()) }
    mutating func f32() throws(DescentError) -> Float { Float(bitPattern: try u32()) }

    /// A count or size field: at most `limit`, else the checkpoint is corrupt.
    mutating func count(_ what: String, limit: Int) throws(DescentError) -> Int {
        let value = try u64()
        guard value <= UInt64(limit) else {
            throw DescentError(.corruptCheckpoint, "checkpoint \(context) has \(what) \(value), more than its bytes can hold")
        }
        return Int(value)
    }

    func finish() throws(DescentError) {
        guard remaining == 0 else {
            throw DescentError(.corruptCheckpoint, "checkpoint \(context) has \(remaining) unexpected trailing bytes")
        }
    }
}

extension CheckpointContents.SlotRecord {
    /// The bytes of this slot for a parameter of shape `parameterShape` whose element-wise
    /// state is in `stateFormat`.
    func byteCount(for parameterShape: [Int], stateFormat: ElementFormat) -> Int {
        (shape == .elementwise ? stateFormat : format).byteCount(shape.dimensions(for: parameterShape).reduce(1, *))
    }
}
