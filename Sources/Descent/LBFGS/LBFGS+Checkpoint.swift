/// LBFGS's state in a checkpoint (section ALGS, docs/checkpoint-format.md): a record of
/// its counters and scalars, then its vectors, each `numel` float32 values.
private enum Flag {
    static let d: UInt32 = 1 << 0
    static let prevFlatGrad: UInt32 = 1 << 1
    static let t: UInt32 = 1 << 2
    static let tIsTensor: UInt32 = 1 << 3
    static let hDiag: UInt32 = 1 << 4
    static let hDiagIsTensor: UInt32 = 1 << 5
    static let prevLoss: UInt32 = 1 << 6
    static let al: UInt32 = 1 << 7
    static let all: UInt32 = (1 << 8) - 1
}

/// The record's kind: the one algorithm with state over all its parameters.
private let lbfgsKind: UInt32 = 1

extension LBFGSState {
    /// The ALGS payload for an optimizer of `algorithm`: the record and the vectors (in
    /// place, not copied); nothing for an algorithm without such state.
    func checkpointPieces(_ algorithm: Algorithm) -> ([UInt8], [UnsafeRawBufferPointer]) {
        guard algorithm.description.traits.contains(.needsClosure) else { return ([], []) }
        var flags: UInt32 = 0
        if d != nil { flags |= Flag.d }
        if prevFlatGrad != nil { flags |= Flag.prevFlatGrad }
        if let t { flags |= Flag.t | (t.isTensor ? Flag.tIsTensor : 0) }
        if let hDiag { flags |= Flag.hDiag | (hDiag.isTensor ? Flag.hDiagIsTensor : 0) }
        if prevLoss != nil { flags |= Flag.prevLoss }
        if al != nil { flags |= Flag.al }
        var writer = ByteWriter()
        writer.u32(lbfgsKind)
        writer.u32(flags)
        writer.i64(Int64(funcEvals))
        writer.i64(Int64(nIter))
        writer.u64(UInt64(vectors.first?.count ?? 0))
        writer.u64(UInt64(oldDirs.count))
        writer.u64(UInt64(al?.count ?? 0))
        writer.f64(t?.value ?? 0)
        writer.f64(hDiag?.value ?? 0)
        writer.f64(prevLoss ?? 0)
        for value in ro { writer.f32(value) }
        for value in al ?? [] { writer.f32(value ?? .nan) }
        let history = zip(oldDirs, oldStps).flatMap { [$0, $1] }
        let vectors = ([d, prevFlatGrad].compactMap { $0 } + history).map {
            UnsafeRawBufferPointer(start: $0.pointer, count: $0.count * MemoryLayout<Float>.stride)
        }
        return (writer.bytes, vectors)
    }
}

/// A decoded ALGS record, its vectors viewing the checkpoint's bytes.
struct LBFGSRecord {
    var flags: UInt32
    var funcEvals: Int64
    var nIter: Int64
    var numel: Int
    var t: Double
    var hDiag: Double
    var prevLoss: Double
    var ro: [Float]
    var al: [Float]
    var d: UnsafeRawBufferPointer?
    var prevFlatGrad: UnsafeRawBufferPointer?
    var pairs: [(UnsafeRawBufferPointer, UnsafeRawBufferPointer)] = []

    init(_ reader: inout ByteReader) throws(DescentError) {
        let kind = try reader.u32()
        guard kind == lbfgsKind else {
            throw DescentError(.corruptCheckpoint, "checkpoint section ALGS has record kind \(kind); this library reads \(lbfgsKind) (LBFGS)")
        }
        flags = try reader.u32()
        guard flags & ~Flag.all == 0 else {
            throw DescentError(.corruptCheckpoint, "checkpoint section ALGS has unknown flags \(flags)")
        }
        funcEvals = try reader.i64()
        nIter = try reader.i64()
        guard funcEvals >= 0, nIter >= 0 else {
            throw DescentError(.corruptCheckpoint, "checkpoint section ALGS has negative counters (func_evals \(funcEvals), n_iter \(nIter))")
        }
        let floats = reader.remaining / MemoryLayout<Float>.stride
        numel = try reader.count("numel", limit: floats)
        let history = try reader.count("history length", limit: floats)
        let alCount = try reader.count("al length", limit: floats)
        t = try reader.f64()
        hDiag = try reader.f64()
        prevLoss = try reader.f64()
        ro = []
        al = []
        for _ in 0 ..< history { ro.append(try reader.f32()) }
        for _ in 0 ..< alCount { al.append(try reader.f32()) }
        let bytes = numel * MemoryLayout<Float>.stride
        if flags & Flag.d != 0 { d = try reader.take(bytes) }
        if flags & Flag.prevFlatGrad != 0 { prevFlatGrad = try reader.take(bytes) }
        for _ in 0 ..< history { pairs.append((try reader.take(bytes), try reader.take(bytes))) }
        guard numel > 0 || (d == nil && prevFlatGrad == nil && history == 0) else {
            throw DescentError(.corruptCheckpoint, "checkpoint section ALGS has vectors of 0 elements")
        }
    }

    /// The state it describes, its vectors allocated and filled.
    func state() throws(DescentError) -> LBFGSState {
        func vector(_ bytes: UnsafeRawBufferPointer) throws(DescentError) -> FlatVector {
            let vector = try FlatVector(count: numel)
            UnsafeMutableRawPointer(vector.pointer).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            return vector
        }
        var state = LBFGSState()
        state.funcEvals = Int(funcEvals)
        state.nIter = Int(nIter)
        if let d { state.d = try vector(d) }
        if let prevFlatGrad { state.prevFlatGrad = try vector(prevFlatGrad) }
        for (y, s) in pairs {
            state.oldDirs.append(try vector(y))
            state.oldStps.append(try vector(s))
        }
        state.ro = ro
        func scalar(_ present: UInt32, _ tensor: UInt32, _ value: Double) -> TorchScalar? {
            guard flags & present != 0 else { return nil }
            return flags & tensor != 0 ? .float(Float(value)) : .double(value)
        }
        state.t = scalar(Flag.t, Flag.tIsTensor, t)
        state.hDiag = scalar(Flag.hDiag, Flag.hDiagIsTensor, hDiag)
        state.prevLoss = flags & Flag.prevLoss != 0 ? prevLoss : nil
        state.al = flags & Flag.al != 0 ? al.map { $0.isNaN ? nil : $0 } : nil
        return state
    }
}
