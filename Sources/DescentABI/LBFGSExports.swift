import CDescent
import Descent

// LBFGS's state to and from the caller (include/descent.h, section "LBFGS state").

@_cdecl("descent_lbfgs_get_state")
public func exportLBFGSGetState(_ opt: OpaquePointer?, _ out: UnsafeMutablePointer<descent_lbfgs_state>?,
                                _ vectors: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?, _ capacity: Int,
                                _ vectorCount: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in
        let out = try required(out, "out")
        let capacity = try capacityChecked(vectors, capacity, name: "vectors")
        let record = try optimizer.lbfgsRecord()
        out.pointee.flags = record.flags
        out.pointee.func_evals = record.funcEvals
        out.pointee.n_iter = record.nIter
        out.pointee.numel = record.numel
        out.pointee.history = record.ro.count
        out.pointee.al_count = record.al.count
        out.pointee.t = record.t
        out.pointee.h_diag = record.hDiag
        out.pointee.prev_loss = record.prevLoss
        out.pointee.ro?.update(from: record.ro, count: record.ro.count)
        out.pointee.al?.update(from: record.al, count: record.al.count)
        let all = record.vectors
        vectorCount?.pointee = all.count
        for (i, vector) in all.prefix(capacity).enumerated() {
            vectors![i] = UnsafeMutableRawPointer(mutating: vector.baseAddress)?.assumingMemoryBound(to: Float.self)
        }
    }
}

@_cdecl("descent_lbfgs_set_state")
public func exportLBFGSSetState(_ opt: OpaquePointer?, _ state: UnsafePointer<descent_lbfgs_state>?,
                                _ vectors: UnsafePointer<UnsafePointer<Float>?>?) -> descent_status {
    call(opt) { optimizer in
        let s = try required(state, "state").pointee
        guard (0 ... Int.max / 64).contains(s.history), (0 ... Int.max / 64).contains(s.al_count),
              (0 ... Int.max / 64).contains(s.numel) else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "history \(s.history), al_count \(s.al_count) or numel \(s.numel) is too large (a negative count passed as size_t?)")
        }
        func values(_ pointer: UnsafeMutablePointer<Float>?, _ count: Int, _ name: String) throws -> [Float] {
            guard count > 0 else { return [] }
            let start: UnsafeMutablePointer<Float> = try required(pointer, name)
            return Array(UnsafeBufferPointer(start: start, count: count))
        }
        let ro = try values(s.ro, s.history, "state->ro"), al = try values(s.al, s.al_count, "state->al")
        let count = LBFGSRecord.vectorCount(flags: s.flags, history: s.history)
        let given = count == 0 ? [] : Array(UnsafeBufferPointer(start: try required(vectors, "vectors"), count: count))
        let pointers = try given.enumerated().map { i, pointer -> UnsafePointer<Float> in
            try required(pointer, "vectors[\(i)]")
        }
        try optimizer.setLBFGSState(try LBFGSRecord(
            flags: s.flags, funcEvals: s.func_evals, nIter: s.n_iter, numel: s.numel, t: s.t, hDiag: s.h_diag,
            prevLoss: s.prev_loss, ro: ro, al: al, vectors: pointers))
    }
}
