import Checksum

/// Writes or reads a schedule's state in one fixed order, so that a single function per
/// schedule (`code(_:)`) defines its saved form in both directions.
///
/// The bytes: magic "DSCH", format version (little-endian UInt32), then each schedule of
/// the tree as its kind id followed by its fields, all little-endian 8-byte integers and
/// IEEE doubles; arrays carry their count first. Version 2 ends with the CRC-32C of
/// everything before it (a standalone state travels without a checkpoint's checksums:
/// without one, most single-bit flips loaded); version 1, without it, is still read.
/// Version 3 adds WarmupCosineLR's warmup start (versions 1 and 2 knew one form).
public struct StateCoder {
    enum Mode { case writing, reading }

    static let magic: [UInt8] = Array("DSCH".utf8)
    static let version: UInt32 = 3
    static let checksummedSince: UInt32 = 2

    let mode: Mode
    /// The format version being written or read.
    let version: UInt32
    private(set) var bytes: [UInt8]
    private var offset = 0

    /// A writer, with the header already in place; `finished` has the checksum.
    init() {
        mode = .writing
        version = Self.version
        bytes = Self.magic
        withUnsafeBytes(of: Self.version.littleEndian) { bytes += $0 }
    }

    /// A reader over `bytes`; checks the header and, from version 2, the checksum.
    init(reading bytes: [UInt8]) throws(DescentError) {
        mode = .reading
        guard bytes.count >= 8, Array(bytes[0..<4]) == Self.magic else {
            throw DescentError(.invalidArgument, "not a Descent schedule state (bad magic)")
        }
        version = Self.littleEndian(bytes, at: 4)
        guard (1...Self.version).contains(version) else {
            throw DescentError(.invalidArgument, "schedule state format version \(version) is not supported (this library reads versions 1 to \(Self.version))")
        }
        var fields = bytes
        if version >= Self.checksummedSince {
            guard bytes.count >= 12 else { throw DescentError(.invalidArgument, "schedule state is truncated") }
            fields.removeLast(4)
            let stored = Self.littleEndian(bytes, at: bytes.count - 4), computed = Self.crc(fields)
            guard stored == computed else {
                throw DescentError(.invalidArgument, "schedule state fails its CRC-32C check (stored \(hex(stored)), computed \(hex(computed)))")
            }
        }
        self.bytes = fields
        offset = 8
    }

    /// The written state with its checksum.
    var finished: [UInt8] {
        var result = bytes
        withUnsafeBytes(of: Self.crc(bytes).littleEndian) { result += $0 }
        return result
    }

    private static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { descent_crc32c(0, $0.baseAddress, $0.count) }
    }

    private static func littleEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    var isReading: Bool { mode == .reading }

    /// Fails unless every byte has been read.
    func finish() throws(DescentError) {
        guard offset == bytes.count else {
            throw DescentError(.invalidArgument, "schedule state has \(bytes.count - offset) unexpected trailing bytes")
        }
    }

    mutating func code(_ value: inout UInt64) throws(DescentError) {
        if mode == .writing {
            withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
            return
        }
        guard bytes.count - offset >= 8 else {
            throw DescentError(.invalidArgument, "schedule state is truncated")
        }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        value = v
    }

    mutating func code(_ value: inout Int64) throws(DescentError) {
        var bits = UInt64(bitPattern: value)
        try code(&bits)
        value = Int64(bitPattern: bits)
    }

    mutating func code(_ value: inout Double) throws(DescentError) {
        var bits = value.bitPattern
        try code(&bits)
        value = Double(bitPattern: bits)
    }

    mutating func code(_ value: inout Bool) throws(DescentError) {
        var bits: UInt64 = value ? 1 : 0
        try code(&bits)
        guard bits <= 1 else { throw DescentError(.invalidArgument, "schedule state holds a bad boolean") }
        value = bits == 1
    }

    /// An enum by its raw value; an unknown value in a state being read is an error that
    /// names `what`.
    mutating func code<E: RawRepresentable>(_ value: inout E, _ what: String) throws(DescentError)
    where E.RawValue == Int64 {
        var raw = value.rawValue
        try code(&raw)
        guard let decoded = E(rawValue: raw) else {
            throw DescentError(.invalidArgument, "schedule state has unknown \(what) \(raw)")
        }
        value = decoded
    }

    mutating func code(_ values: inout [Double]) throws(DescentError) {
        var count = Int64(values.count)
        try code(&count)
        if mode == .reading {
            // Each element takes 8 bytes: a count larger than what is left is corrupt.
            guard count >= 0, count <= Int64((bytes.count - offset) / 8) else {
                throw DescentError(.invalidArgument, "schedule state is truncated")
            }
            values = Array(repeating: 0, count: Int(count))
        }
        for i in values.indices { try code(&values[i]) }
    }

    mutating func code(_ values: inout [Int64]) throws(DescentError) {
        var doubles = values.map { Double(bitPattern: UInt64(bitPattern: $0)) }
        try code(&doubles)
        values = doubles.map { Int64(bitPattern: $0.bitPattern) }
    }
}
