/// LBFGS's state as a record (section ALGS of a checkpoint, docs/checkpoint-format.md,
/// and descent_lbfgs_get_state / _set_state): its counters and scalars, then its
/// vectors, each `numel` float32 values. The flag bits are the header's
/// DESCENT_LBFGS_HAS_* and the checkpoint's.
enum Flag {
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
        let record = LBFGSRecord(self)
        var writer = ByteWriter()
        writer.u32(lbfgsKind)
        writer.u32(record.flags)
        writer.i64(record.funcEvals)
        writer.i64(record.nIter)
        writer.u64(UInt64(record.numel))
        writer.u64(UInt64(record.ro.count))
        writer.u64(UInt64(record.al.count))
        writer.f64(record.t)
        writer.f64(record.hDiag)
        writer.f64(record.prevLoss)
        for value in record.ro { writer.f32(value) }
        for value in record.al { writer.f32(value) }
        return (writer.bytes, record.vectors)
    }
}

/// LBFGS's state as plain values, its vectors viewing memory it does not own (a
/// checkpoint's bytes, the engine's vectors, a caller's buffers).
public struct LBFGSRecord {
    /// Which entries exist (`Flag`, the header's DESCENT_LBFGS_HAS_*).
    public var flags: UInt32
    public var funcEvals: Int64
    public var nIter: Int64
    /// Elements of every vector: all parameters together.
    public var numel: Int
    public var t: Double
    public var hDiag: Double
    public var prevLoss: Double
    /// One per history pair.
    public var ro: [Float]
    /// NaN for torch's None.
    public var al: [Float]
    public var d: UnsafeRawBufferPointer?
    public var prevFlatGrad: UnsafeRawBufferPointer?
    /// (old_dirs[i], old_stps[i]), oldest first.
    public var pairs: [(UnsafeRawBufferPointer, UnsafeRawBufferPointer)] = []

    /// The vectors in record order: d, prev_flat_grad (where present), then each pair.
    public var vectors: [UnsafeRawBufferPointer] {
        [d, prevFlatGrad].compactMap { $0 } + pairs.flatMap { [$0.0, $0.1] }
    }

    /// Counters a step can count on from (as step counts: exact in a double, far from
    /// overflow).
    static let counterRange: ClosedRange<Int64> = 0 ... Optimizer.maxStepCount

    /// How many vectors a record with these flags and history pairs has.
    public static func vectorCount(flags: UInt32, history: Int) -> Int {
        (flags & Flag.d != 0 ? 1 : 0) + (flags & Flag.prevFlatGrad != 0 ? 1 : 0) + 2 * history
    }

    /// `state`'s record, viewing its vectors.
    init(_ state: LBFGSState) {
        func view(_ vector: FlatVector) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: vector.pointer, count: vector.count * MemoryLayout<Float>.stride)
        }
        flags = 0
        if state.d != nil { flags |= Flag.d }
        if state.prevFlatGrad != nil { flags |= Flag.prevFlatGrad }
        if let t = state.t { flags |= Flag.t | (t.isTensor ? Flag.tIsTensor : 0) }
        if let hDiag = state.hDiag { flags |= Flag.hDiag | (hDiag.isTensor ? Flag.hDiagIsTensor : 0) }
        if state.prevLoss != nil { flags |= Flag.prevLoss }
        if state.al != nil { flags |= Flag.al }
        funcEvals = Int64(state.funcEvals)
        nIter = Int64(state.nIter)
        numel = state.vectors.first?.count ?? 0
        t = state.t?.value ?? 0
        hDiag = state.hDiag?.value ?? 0
        prevLoss = state.prevLoss ?? 0
        ro = state.ro
        al = (state.al ?? []).map { $0 ?? .nan }
        d = state.d.map(view)
        prevFlatGrad = state.prevFlatGrad.map(view)
        pairs = zip(state.oldDirs, state.oldStps).map { (view($0), view($1)) }
    }

    /// A record of caller-given values; `vectors` in record order (see `vectors`), each
    /// `numel` floats. Checked by `Optimizer.setLBFGSState`.
    public init(flags: UInt32, funcEvals: Int64, nIter: Int64, numel: Int, t: Double, hDiag: Double,
                prevLoss: Double, ro: [Float], al: [Float], vectors: [UnsafePointer<Float>]) throws(DescentError) {
        guard flags & ~Flag.all == 0 else {
            throw DescentError(.invalidArgument, "unknown LBFGS state flags \(flags & ~Flag.all)")
        }
        guard Self.counterRange.contains(funcEvals), Self.counterRange.contains(nIter) else {
            throw DescentError(.invalidArgument, "func_evals and n_iter must be in 0 ... 2**53, got \(funcEvals) and \(nIter)")
        }
        guard numel >= 0, numel <= Optimizer.maxCount else {
            throw DescentError(.invalidArgument, "numel \(numel) is out of range (a negative count passed as size_t?)")
        }
        let expected = Self.vectorCount(flags: flags, history: ro.count)
        guard vectors.count == expected else {
            throw DescentError(.invalidArgument, "expected \(expected) vectors (the flags' d and prev_flat_grad, then two per entry of ro), got \(vectors.count)")
        }
        let views = vectors.map { UnsafeRawBufferPointer(start: $0, count: numel * MemoryLayout<Float>.stride) }
        (self.flags, self.funcEvals, self.nIter, self.numel) = (flags, funcEvals, nIter, numel)
        (self.t, self.hDiag, self.prevLoss, self.ro, self.al) = (t, hDiag, prevLoss, ro, al)
        var next = 0
        if flags & Flag.d != 0 { d = views[next]; next += 1 }
        if flags & Flag.prevFlatGrad != 0 { prevFlatGrad = views[next]; next += 1 }
        pairs = stride(from: next, to: views.count, by: 2).map { (views[$0], views[$0 + 1]) }
    }

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
        guard Self.counterRange.contains(funcEvals), Self.counterRange.contains(nIter) else {
            throw DescentError(.corruptCheckpoint, "checkpoint section ALGS has counters out of range (func_evals \(funcEvals), n_iter \(nIter); 0 to 2**53)")
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

extension Optimizer {
    /// LBFGS's state as a record viewing the engine's vectors, which the caller may read
    /// and write until the next step, load or `setLBFGSState`.
    public func lbfgsRecord() throws(DescentError) -> LBFGSRecord {
        try checkLBFGS()
        return LBFGSRecord(lbfgs.state)
    }

    /// Replaces LBFGS's state with `record`'s (its vectors copied): all or nothing.
    public func setLBFGSState(_ record: LBFGSRecord) throws(DescentError) {
        try checkLBFGS()
        let numel = parameters.reduce(0) { $0 + $1.count }
        guard record.vectors.isEmpty || record.numel == numel else {
            throw DescentError(.mismatch, "LBFGS state vectors of \(record.numel) elements given, this optimizer's parameters have \(numel)")
        }
        lbfgs.state = try record.state()
    }

    private func checkLBFGS() throws(DescentError) {
        guard algorithm.description.traits.contains(.needsClosure) else {
            throw DescentError(.unsupported, "\(algorithm.name) keeps no LBFGS state")
        }
    }
}
