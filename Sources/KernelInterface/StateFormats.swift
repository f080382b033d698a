import BlockQuantization

/// The element format of what a kernel reads and writes: parameters (and gradients), or
/// optimizer state. Kernels are found by (rule, parameter format, state format); a new
/// format is a case here and entries of a `KernelTable`, not new fields. Raw values are
/// the codes of the C interface and of checkpoints.
public enum ElementFormat: UInt8, CaseIterable, Hashable, Sendable {
    case float32 = 1
    /// The upper half of a float32, rounded to nearest even (torch's bfloat16).
    case bfloat16 = 2
    /// bitsandbytes' 8-bit block-wise state: a code per element and a float32 absmax per
    /// block of `Blockwise8Bit.blockSize` elements (see `Blockwise8Bit`).
    case int8Blockwise = 3
    /// IEEE binary16, rounded to nearest even (torch's float16): parameters only.
    case float16 = 4

    /// The formats optimizer state may be kept in (`state_dtype`'s choices, in this order).
    public static let stateFormats: [ElementFormat] = [.float32, .bfloat16, .int8Blockwise]
    /// The formats a parameter and its gradient may be in.
    public static let parameterFormats: [ElementFormat] = [.float32, .bfloat16, .float16]

    /// The name callers use (`state_dtype`): torch's dtype names, "int8" for 8-bit.
    public var name: String {
        switch self {
        case .float32: "float32"
        case .bfloat16: "bfloat16"
        case .int8Blockwise: "int8"
        case .float16: "float16"
        }
    }

    /// Parameters are laid out for a step in multiples of this many elements, so that a
    /// chunk boundary never splits what the format stores together: 64 bytes, or one
    /// whole quantization block.
    public var layoutGranularity: Int {
        switch self {
        case .float32: 16
        case .bfloat16, .float16: 32
        case .int8Blockwise: Blockwise8Bit.blockSize
        }
    }

    /// The bytes that `count` elements take in this format (8-bit: the codes, padded to
    /// 64 bytes, then the absmax of each block).
    public func byteCount(_ count: Int) -> Int {
        switch self {
        case .float32: count * MemoryLayout<Float>.stride
        case .bfloat16, .float16: count * MemoryLayout<UInt16>.stride
        case .int8Blockwise: Blockwise8Bit.absmaxOffset(count) + Blockwise8Bit.blocks(count) * MemoryLayout<Float>.stride
        }
    }
}

// MARK: bfloat16

/// bfloat16 ↔ float32, as torch converts (c10::BFloat16): round to nearest even, every
/// NaN to 0x7FC0. Inlinable, so that the kernels built for each instruction set vectorize
/// it; the NaN case is a select, not an early return, which kept LLVM from vectorizing a
/// kernel that reads and writes a bfloat16 parameter.
@inlinable @inline(__always)
public func bfloat16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let rounded = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    return value.isNaN ? 0x7FC0 : rounded
}

@inlinable @inline(__always)
public func float(bfloat16 value: UInt16) -> Float {
    Float(bitPattern: UInt32(value) << 16)
}

// MARK: float16

/// float16 ↔ float32 as torch converts (c10::Half): IEEE conversions, round to nearest
/// even (F16C's instructions where the build has them).
@inlinable @inline(__always)
public func float16(_ value: Float) -> UInt16 {
    Float16(value).bitPattern
}

@inlinable @inline(__always)
public func float(float16 value: UInt16) -> Float {
    Float(Float16(bitPattern: value))
}

// MARK: Stochastic rounding

/// A random 32-bit word for element `i` of a tensor under `seed`, from a counter-based
/// hash (Wellons's lowbias32) rather than a generator's sequence: it depends only on
/// which element a step writes, so every instruction set, thread count and chunking
/// rounds alike, and a resumed run rounds as the uninterrupted one.
@inlinable @inline(__always)
public func roundingNoise(_ i: Int, _ seed: UInt32) -> UInt32 {
    var x = UInt32(truncatingIfNeeded: i) &+ seed
    x ^= x >> 16
    x &*= 0x7FEB_352D
    x ^= x >> 15
    x &*= 0x846C_A68B
    x ^= x >> 16
    return x
}

/// bfloat16 rounded stochastically: up (away from zero) with the probability of the
/// dropped fraction, by adding 16 random bits below the kept ones and truncating; NaN
/// as `bfloat16(_:)`.
@inlinable @inline(__always)
public func bfloat16(_ value: Float, noise: UInt32) -> UInt16 {
    let rounded = UInt16(truncatingIfNeeded: (value.bitPattern &+ (noise & 0xFFFF)) >> 16)
    return value.isNaN ? 0x7FC0 : rounded
}

/// float16 rounded stochastically, as `bfloat16(_:noise:)`: 13 random bits below a normal
/// value's kept ones; a value in float16's subnormal range (steps of 2^-24) scaled to
/// those steps, where 14 random bits below the unit add exactly (the scaled value is
/// under 1,024).
@inlinable @inline(__always)
public func float16(_ value: Float, noise: UInt32) -> UInt16 {
    let bits = value.bitPattern, magnitude = bits & 0x7FFF_FFFF
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    if value.isNaN { return sign | 0x7E00 }
    if magnitude < 0x3880_0000 {  // below 2^-14
        let units = Float(bitPattern: magnitude) * 0x1p24 + Float(noise & 0x3FFF) * 0x1p-14
        return sign | UInt16(units.rounded(.down))
    }
    let raised = magnitude &+ (noise & 0x1FFF)
    if raised >= 0x4780_0000 { return sign | 0x7C00 }  // 2^16 and up: infinity
    return sign | UInt16(truncatingIfNeeded: (raised >> 13) &- (112 << 10))
}

// MARK: Elements as a kernel sees them

/// How a kernel reads and writes one state slot's elements, as float32 whatever their
/// format. Kernels are generic over it, so that a kernel steps float32 or bfloat16 state
/// in the same one pass with the same arithmetic (8-bit state, whose encoding needs a
/// whole block, goes through float32 scratch instead: see `withFloat32State`).
public protocol StateElements {
    init(_ memory: UnsafeMutableRawPointer)
    subscript(i: Int) -> Float { get nonmutating set }
}

/// float32 state: the elements themselves.
@frozen
public struct Float32Elements: StateElements {
    @usableFromInline let base: UnsafeMutablePointer<Float>

    @inlinable @inline(__always)
    public init(_ memory: UnsafeMutableRawPointer) { base = memory.assumingMemoryBound(to: Float.self) }

    @inlinable
    public subscript(i: Int) -> Float {
        @inline(__always) get { base[i] }
        @inline(__always) nonmutating set { base[i] = newValue }
    }
}

/// bfloat16 state: widened on read, rounded to nearest even on write.
@frozen
public struct BFloat16Elements: StateElements {
    @usableFromInline let base: UnsafeMutablePointer<UInt16>

    @inlinable @inline(__always)
    public init(_ memory: UnsafeMutableRawPointer) { base = memory.assumingMemoryBound(to: UInt16.self) }

    @inlinable
    public subscript(i: Int) -> Float {
        @inline(__always) get { float(bfloat16: base[i]) }
        @inline(__always) nonmutating set { base[i] = bfloat16(newValue) }
    }
}

// MARK: 8-bit block-wise

/// bitsandbytes' 8-bit block-wise format (its Adam8bit's state; docs/bitsandbytes-8bit.md
/// has the facts and their sources). Each block of 256 elements keeps its largest
/// magnitude (absmax, float32) and one byte per element: the index of the code nearest to
/// x / absmax in a dynamic map, the signed map for state that takes either sign (first
/// moments), the unsigned one for the rest (second moments). Slot memory holds the codes
/// (padded to 64 bytes), then the absmax of every block.
public enum Blockwise8Bit {
    public static let blockSize = 256

    /// Blocks of a tensor of `count` elements (the last may be partial).
    @inlinable
    public static func blocks(_ count: Int) -> Int { (count + blockSize - 1) / blockSize }

    /// Where the absmax values start in a slot of `count` elements, in bytes.
    @inlinable
    public static func absmaxOffset(_ count: Int) -> Int { (count + 63) / 64 * 64 }

    /// bitsandbytes' `create_dynamic_map(signed=True)` (its qmap1), ascending, as float32
    /// bit patterns: the values depend on torch's linspace rounding, so they are written
    /// out (read from bitsandbytes 0.50.2 on torch 2.15; the tests compare them with the
    /// installed bitsandbytes).
    static let signedMapBits: [UInt32] = [
        0xbf7e3333, 0xbf7a999a, 0xbf770000, 0xbf736666, 0xbf6fcccd, 0xbf6c3333, 0xbf68999a, 0xbf650000,
        0xbf616666, 0xbf5dcccd, 0xbf5a3333, 0xbf56999a, 0xbf530000, 0xbf4f6666, 0xbf4bcccd, 0xbf483333,
        0xbf44999a, 0xbf410000, 0xbf3d6666, 0xbf39cccd, 0xbf363334, 0xbf32999a, 0xbf2f0000, 0xbf2b6666,
        0xbf27cccd, 0xbf243334, 0xbf20999a, 0xbf1d0000, 0xbf196666, 0xbf15cccd, 0xbf123334, 0xbf0e999a,
        0xbf0b0000, 0xbf076666, 0xbf03cccc, 0xbf003333, 0xbef93332, 0xbef20000, 0xbeeacccc, 0xbee3999a,
        0xbedc6666, 0xbed53333, 0xbece0000, 0xbec6cccc, 0xbebf999a, 0xbeb86666, 0xbeb13333, 0xbeaa0000,
        0xbea2cccc, 0xbe9b999a, 0xbe946666, 0xbe8d3334, 0xbe860000, 0xbe7d9999, 0xbe6f3333, 0xbe60cccd,
        0xbe526666, 0xbe440000, 0xbe35999a, 0xbe273333, 0xbe18cccd, 0xbe0a6666, 0xbdf80000, 0xbddb3334,
        0xbdc9eb85, 0xbdc428f7, 0xbdbe6667, 0xbdb8a3d7, 0xbdb2e148, 0xbdad1eb8, 0xbda75c2a, 0xbda1999a,
        0xbd9bd70a, 0xbd96147b, 0xbd9051eb, 0xbd8a8f5d, 0xbd84cccd, 0xbd7e147b, 0xbd728f5d, 0xbd670a3d,
        0xbd5b851f, 0xbd500000, 0xbd447ae1, 0xbd38f5c3, 0xbd2d70a3, 0xbd21eb85, 0xbd166667, 0xbd0ae148,
        0xbcfeb852, 0xbce7ae15, 0xbcd0a3d7, 0xbcb9999a, 0xbca28f5d, 0xbc8b851f, 0xbc68f5c3, 0xbc3ae148,
        0xbc1f3b64, 0xbc160418, 0xbc0ccccd, 0xbc039581, 0xbbf4bc6a, 0xbbe24dd3, 0xbbcfdf3b, 0xbbbd70a4,
        0xbbab020d, 0xbb989374, 0xbb8624dd, 0xbb676c8a, 0xbb428f5c, 0xbb1db22d, 0xbaf1a9fc, 0xbaa7ef9d,
        0xba7765ff, 0xba59e83e, 0xba3c6a80, 0xba1eecc1, 0xba016f01, 0xb9c7e283, 0xb98ce705, 0xb923d70b,
        0xb8ba1f4b, 0xb88aefb3, 0xb8378034, 0xb7b24206, 0xb70205ff, 0xb65a1a94, 0xb513a3b7, 0x00000000,
        0x3513a3b7, 0x365a1a94, 0x370205ff, 0x37b24206, 0x38378034, 0x388aefb3, 0x38ba1f4b, 0x3923d70b,
        0x398ce705, 0x39c7e283, 0x3a016f01, 0x3a1eecc1, 0x3a3c6a80, 0x3a59e83e, 0x3a7765ff, 0x3aa7ef9d,
        0x3af1a9fc, 0x3b1db22d, 0x3b428f5c, 0x3b676c8a, 0x3b8624dd, 0x3b989374, 0x3bab020d, 0x3bbd70a4,
        0x3bcfdf3b, 0x3be24dd3, 0x3bf4bc6a, 0x3c039581, 0x3c0ccccd, 0x3c160418, 0x3c1f3b64, 0x3c3ae148,
        0x3c68f5c3, 0x3c8b851f, 0x3ca28f5d, 0x3cb9999a, 0x3cd0a3d7, 0x3ce7ae15, 0x3cfeb852, 0x3d0ae148,
        0x3d166667, 0x3d21eb85, 0x3d2d70a3, 0x3d38f5c3, 0x3d447ae1, 0x3d500000, 0x3d5b851f, 0x3d670a3d,
        0x3d728f5d, 0x3d7e147b, 0x3d84cccd, 0x3d8a8f5d, 0x3d9051eb, 0x3d96147b, 0x3d9bd70a, 0x3da1999a,
        0x3da75c2a, 0x3dad1eb8, 0x3db2e148, 0x3db8a3d7, 0x3dbe6667, 0x3dc428f7, 0x3dc9eb85, 0x3ddb3334,
        0x3df80000, 0x3e0a6666, 0x3e18cccd, 0x3e273333, 0x3e35999a, 0x3e440000, 0x3e526666, 0x3e60cccd,
        0x3e6f3333, 0x3e7d9999, 0x3e860000, 0x3e8d3334, 0x3e946666, 0x3e9b999a, 0x3ea2cccc, 0x3eaa0000,
        0x3eb13333, 0x3eb86666, 0x3ebf999a, 0x3ec6cccc, 0x3ece0000, 0x3ed53333, 0x3edc6666, 0x3ee3999a,
        0x3eeacccc, 0x3ef20000, 0x3ef93332, 0x3f003333, 0x3f03cccc, 0x3f076666, 0x3f0b0000, 0x3f0e999a,
        0x3f123334, 0x3f15cccd, 0x3f196666, 0x3f1d0000, 0x3f20999a, 0x3f243334, 0x3f27cccd, 0x3f2b6666,
        0x3f2f0000, 0x3f32999a, 0x3f363334, 0x3f39cccd, 0x3f3d6666, 0x3f410000, 0x3f44999a, 0x3f483333,
        0x3f4bcccd, 0x3f4f6666, 0x3f530000, 0x3f56999a, 0x3f5a3333, 0x3f5dcccd, 0x3f616666, 0x3f650000,
        0x3f68999a, 0x3f6c3333, 0x3f6fcccd, 0x3f736666, 0x3f770000, 0x3f7a999a, 0x3f7e3333, 0x3f800000
    ]

    /// `create_dynamic_map(signed=False)` (qmap2), ascending.
    static let unsignedMapBits: [UInt32] = [
        0x00000000, 0x34ae7baa, 0x35500998, 0x360e9b38, 0x3692ccf6, 0x36de4c51, 0x3714e5d5, 0x3783126e,
        0x37e171a0, 0x381fe868, 0x384f1800, 0x387e479a, 0x3896bb99, 0x38ae5364, 0x38c5eb31, 0x3906594b,
        0x394154ca, 0x397c5049, 0x399ba5e4, 0x39b923a2, 0x39d6a163, 0x39f41f22, 0x3a08ce71, 0x3a178d50,
        0x3a264c30, 0x3a350b10, 0x3a43c9ef, 0x3a5288d0, 0x3a6147af, 0x3a70068e, 0x3a7ec56e, 0x3a958106,
        0x3aba5e35, 0x3adf3b64, 0x3b020c4a, 0x3b147ae1, 0x3b26e978, 0x3b395810, 0x3b4bc6a7, 0x3b5e3540,
        0x3b70a3d7, 0x3b818937, 0x3b8ac082, 0x3b93f7cf, 0x3b9d2f1a, 0x3ba66666, 0x3baf9db2, 0x3bb8d4fd,
        0x3bc20c4a, 0x3bcb4395, 0x3bd47ae1, 0x3bddb22e, 0x3be6e978, 0x3bf020c5, 0x3bf9580f, 0x3c0147ae,
        0x3c05e354, 0x3c0a7ef9, 0x3c0f1aa0, 0x3c13b645, 0x3c1851eb, 0x3c1ced92, 0x3c218937, 0x3c2f5c2a,
        0x3c466667, 0x3c5d70a3, 0x3c747ae2, 0x3c85c28f, 0x3c9147af, 0x3c9ccccd, 0x3ca851eb, 0x3cb3d70b,
        0x3cbf5c29, 0x3ccae147, 0x3cd66667, 0x3ce1eb87, 0x3ced70a3, 0x3cf8f5c3, 0x3d023d70, 0x3d080000,
        0x3d0dc28f, 0x3d13851f, 0x3d1947af, 0x3d1f0a3d, 0x3d24cccd, 0x3d2a8f5c, 0x3d3051eb, 0x3d36147b,
        0x3d3bd70a, 0x3d41999a, 0x3d475c28, 0x3d4d1eb8, 0x3d52e147, 0x3d58a3d7, 0x3d5e6667, 0x3d6428f7,
        0x3d69eb87, 0x3d6fae15, 0x3d7570a3, 0x3d7b3333, 0x3d807ae2, 0x3d835c2a, 0x3d863d71, 0x3d891eb8,
        0x3d8c0000, 0x3d8ee148, 0x3d91c290, 0x3d94a3d7, 0x3d97851f, 0x3d9a6667, 0x3d9d47af, 0x3da028f6,
        0x3da30a3e, 0x3da5eb85, 0x3da8cccd, 0x3dabae15, 0x3dae8f5c, 0x3db170a4, 0x3db451eb, 0x3db73333,
        0x3dba147b, 0x3dbcf5c3, 0x3dbfd70b, 0x3dc2b852, 0x3dc5999a, 0x3dc87ae2, 0x3dcb5c29, 0x3dd40000,
        0x3de26666, 0x3df0cccd, 0x3dff3333, 0x3e06cccc, 0x3e0e0000, 0x3e153334, 0x3e1c6666, 0x3e23999a,
        0x3e2acccc, 0x3e320000, 0x3e393334, 0x3e406666, 0x3e47999a, 0x3e4ecccc, 0x3e560000, 0x3e5d3334,
        0x3e646666, 0x3e6b999a, 0x3e72cccc, 0x3e7a0000, 0x3e809999, 0x3e843333, 0x3e87cccd, 0x3e8b6666,
        0x3e8f0000, 0x3e92999a, 0x3e963333, 0x3e99cccc, 0x3e9d6666, 0x3ea10000, 0x3ea4999a, 0x3ea83333,
        0x3eabcccc, 0x3eaf6666, 0x3eb30000, 0x3eb6999a, 0x3eba3333, 0x3ebdcccc, 0x3ec16666, 0x3ec50000,
        0x3ec8999a, 0x3ecc3333, 0x3ecfcccc, 0x3ed36666, 0x3ed70000, 0x3eda999a, 0x3ede3333, 0x3ee1cccc,
        0x3ee56666, 0x3ee90000, 0x3eec999a, 0x3ef03333, 0x3ef3cccc, 0x3ef76666, 0x3efb0000, 0x3efe9999,
        0x3f01199a, 0x3f02e666, 0x3f04b333, 0x3f068000, 0x3f084ccc, 0x3f0a199a, 0x3f0be666, 0x3f0db334,
        0x3f0f8000, 0x3f114ccd, 0x3f13199a, 0x3f14e666, 0x3f16b334, 0x3f188000, 0x3f1a4ccd, 0x3f1c199a,
        0x3f1de666, 0x3f1fb334, 0x3f218000, 0x3f234ccd, 0x3f25199a, 0x3f26e666, 0x3f28b334, 0x3f2a8000,
        0x3f2c4ccd, 0x3f2e199a, 0x3f2fe666, 0x3f31b334, 0x3f338000, 0x3f354ccd, 0x3f37199a, 0x3f38e666,
        0x3f3ab334, 0x3f3c8000, 0x3f3e4ccd, 0x3f40199a, 0x3f41e666, 0x3f43b334, 0x3f458000, 0x3f474ccc,
        0x3f49199a, 0x3f4ae666, 0x3f4cb334, 0x3f4e8000, 0x3f504ccc, 0x3f52199a, 0x3f53e666, 0x3f55b334,
        0x3f578000, 0x3f594ccc, 0x3f5b199a, 0x3f5ce666, 0x3f5eb334, 0x3f608000, 0x3f624ccc, 0x3f64199a,
        0x3f65e666, 0x3f67b334, 0x3f698000, 0x3f6b4ccc, 0x3f6d199a, 0x3f6ee666, 0x3f70b334, 0x3f728000,
        0x3f744ccc, 0x3f76199a, 0x3f77e666, 0x3f79b334, 0x3f7b8000, 0x3f7d4ccc, 0x3f7f199a, 0x3f800000
    ]
}

/// One dynamic map, ready for the kernels: its 256 values, and a table that finds the
/// nearest code of a value y in [-1, 1] with one lookup and one integer comparison (no
/// search): indexed by |y|'s exponent and top mantissa bits, each entry holds the number
/// of midpoints below the smallest |y| it covers and, where one midpoint falls among the
/// values it covers, that midpoint's remaining 16 bits (every entry covers at most one:
/// checked when the table is made; block_quantization.h has the layout). The code of y
/// is then the number of midpoints below y, so that a y on a midpoint takes the lower
/// code (bitsandbytes' bucketize does the same). The signed map is symmetric but for its
/// 1.0, so a negative y is looked up by its magnitude (counting a midpoint equal to it)
/// and mirrored; its code is then never 0.0's, which it steps back from (the nudge of
/// bitsandbytes' CUDA kernel: a small negative first moment stays negative). The
/// unsigned map has nothing below 0.0, which every negative y takes. Made once, never
/// freed.
public struct CodeBook: @unchecked Sendable {
    public let values: UnsafePointer<Float>
    public let buckets: UnsafePointer<UInt32>
    /// For state of either sign (first moments).
    public let signed: Bool

    init(_ bits: [UInt32], signed: Bool) {
        let values = UnsafeMutablePointer<Float>.allocate(capacity: 256)
        for (i, pattern) in bits.enumerated() { values[i] = Float(bitPattern: pattern) }
        // As bitsandbytes computes them (its kernels' `(a + b) * 0.5f`).
        let midpoints = (0 ..< 255).map { (values[$0] + values[$0 + 1]) * 0.5 }
        let lowest = UInt32(DESCENT_BUCKET_LOWEST_EXPONENT), perRow = 1 << Int(DESCENT_BUCKET_MANTISSA_BITS)
        let count = Int(DESCENT_BUCKET_ROWS) * perRow
        let buckets = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
        for bucket in 0 ..< count {
            // The magnitudes it covers, [low, high], as float32 bit patterns.
            let row = UInt32(bucket / perRow), top = UInt32(bucket % perRow)
            let low = row == 0 ? 0 : (row + lowest - 1) << 23 | top << (23 - UInt32(DESCENT_BUCKET_MANTISSA_BITS))
            let high = row == 0 ? (lowest << 23) - 1 : low | 0xFFFF
            let below = midpoints.count { $0 < Float(bitPattern: low) }
            let inside = midpoints.filter { $0 >= Float(bitPattern: low) && $0 <= Float(bitPattern: high) }
            precondition(inside.count <= 1, "a bucket of the code table holds two midpoints")
            buckets[bucket] = UInt32(below) << 24 | (inside.first.map { $0.bitPattern & 0xFFFF } ?? 0x10000)
        }
        self.values = UnsafePointer(values)
        self.buckets = UnsafePointer(buckets)
        self.signed = signed
    }

    /// The signed map (first moments, momentum: state of either sign).
    public static let signed = CodeBook(Blockwise8Bit.signedMapBits, signed: true)
    /// The unsigned map (second moments, sums of squares).
    public static let unsigned = CodeBook(Blockwise8Bit.unsignedMapBits, signed: false)

    /// The map for state of either sign (`signed`) or none below zero.
    @inlinable
    public static func forState(signed: Bool) -> CodeBook { signed ? .signed : .unsigned }
}

/// One instruction set's build of the 8-bit loops (block_quantization.h); all give the
/// same bits. Each kernels module uses its own; the engine's conversions, the portable one.
public struct BlockCoding: Sendable {
    /// Codes to float32 values: whole blocks, from the start of one.
    public let dequantize: @convention(c) (UnsafePointer<UInt8>?, Int, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                           UnsafeMutablePointer<Float>?) -> Void
    /// float32 values to codes and each block's absmax. An all-zero block keeps absmax 0
    /// (it decodes to zeros); NaN is left out of the absmax (as in bitsandbytes' kernels,
    /// non-finite state does not survive quantization: it decodes to a finite value, or
    /// to ±inf or NaN in a block holding an infinity).
    public let quantize: @convention(c) (UnsafePointer<Float>?, Int, UnsafePointer<UInt32>?, Int32,
                                         UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Float>?) -> Void

    public static let portable = BlockCoding(dequantize: descent_block_dequantize_portable,
                                             quantize: descent_block_quantize_portable)
    public static let avx2 = BlockCoding(dequantize: descent_block_dequantize_avx2, quantize: descent_block_quantize_avx2)
    public static let avx512 = BlockCoding(dequantize: descent_block_dequantize_avx512,
                                           quantize: descent_block_quantize_avx512)

    /// The build for `instructionSet`.
    public static func built(for instructionSet: InstructionSet) -> BlockCoding {
        switch instructionSet {
        case .portable: portable
        case .avx2: avx2
        case .avx512: avx512
        }
    }
}

// MARK: Any format

/// Elements `elements` of a slot (or a parameter, or a gradient) of `count` elements stored in `format`, as float32
/// (8-bit: whole blocks, from the start of one). `signed`: the slot takes either sign.
@inlinable @inline(__always)
public func decodeState(_ memory: UnsafeRawPointer, _ format: ElementFormat, count: Int, signed: Bool,
                        elements: Range<Int>, into values: UnsafeMutablePointer<Float>, _ coding: BlockCoding) {
    let first = elements.lowerBound, n = elements.count
    switch format {
    case .float32:
        values.update(from: memory.assumingMemoryBound(to: Float.self) + first, count: n)
    case .bfloat16:
        let stored = memory.assumingMemoryBound(to: UInt16.self) + first
        for i in 0 ..< n { values[i] = float(bfloat16: stored[i]) }
    case .float16:
        let stored = memory.assumingMemoryBound(to: UInt16.self) + first
        for i in 0 ..< n { values[i] = float(float16: stored[i]) }
    case .int8Blockwise:
        let absmax = (memory + Blockwise8Bit.absmaxOffset(count)).assumingMemoryBound(to: Float.self)
        coding.dequantize(memory.assumingMemoryBound(to: UInt8.self) + first, n, CodeBook.forState(signed: signed).values,
                          absmax + first / Blockwise8Bit.blockSize, values)
    }
}

/// The inverse of `decodeState`: bfloat16 and float16 round to nearest even, or with a
/// `seed` stochastically (`roundingNoise` of each element's index); 8-bit quantizes each
/// block (its absmax, then its codes).
@inlinable @inline(__always)
public func encodeState(_ values: UnsafePointer<Float>, _ format: ElementFormat, count: Int, signed: Bool,
                        elements: Range<Int>, into memory: UnsafeMutableRawPointer, _ coding: BlockCoding,
                        seed: UInt32? = nil) {
    let first = elements.lowerBound, n = elements.count
    switch format {
    case .float32:
        (memory.assumingMemoryBound(to: Float.self) + first).update(from: values, count: n)
    case .bfloat16:
        let stored = memory.assumingMemoryBound(to: UInt16.self) + first
        if let seed {
            for i in 0 ..< n { stored[i] = bfloat16(values[i], noise: roundingNoise(first + i, seed)) }
        } else {
            for i in 0 ..< n { stored[i] = bfloat16(values[i]) }
        }
    case .float16:
        let stored = memory.assumingMemoryBound(to: UInt16.self) + first
        if let seed {
            for i in 0 ..< n { stored[i] = float16(values[i], noise: roundingNoise(first + i, seed)) }
        } else {
            for i in 0 ..< n { stored[i] = float16(values[i]) }
        }
    case .int8Blockwise:
        let absmax = (memory + Blockwise8Bit.absmaxOffset(count)).assumingMemoryBound(to: Float.self)
        let book = CodeBook.forState(signed: signed)
        coding.quantize(values, n, book.buckets, book.signed ? 1 : 0, memory.assumingMemoryBound(to: UInt8.self) + first,
                        absmax + first / Blockwise8Bit.blockSize)
    }
}
