import CDescent
import Descent
import KernelInterface

// The exported C functions of include/descent.h. Each one validates its arguments,
// calls the engine, and maps every failure to a status; none of them traps on caller
// input. Swift names differ from the C names so that they do not clash with the
// header's declarations, which this module imports for its types.

// MARK: Version and names

@_cdecl("descent_version_number")
public func exportVersionNumber() -> UInt32 {
    UInt32(DESCENT_VERSION_MAJOR * 10000 + DESCENT_VERSION_MINOR * 100 + DESCENT_VERSION_PATCH)
}

@_cdecl("descent_version_string")
public func exportVersionString() -> UnsafePointer<CChar> {
    staticCString("0.1.0")
}

@_cdecl("descent_status_name")
public func exportStatusName(_ status: descent_status) -> UnsafePointer<CChar> {
    switch status {
    case DESCENT_OK: staticCString("DESCENT_OK")
    case DESCENT_ERROR_NULL_POINTER: staticCString("DESCENT_ERROR_NULL_POINTER")
    case DESCENT_ERROR_INVALID_HANDLE: staticCString("DESCENT_ERROR_INVALID_HANDLE")
    case DESCENT_ERROR_INVALID_ARGUMENT: staticCString("DESCENT_ERROR_INVALID_ARGUMENT")
    case DESCENT_ERROR_INVALID_HYPERPARAMETER: staticCString("DESCENT_ERROR_INVALID_HYPERPARAMETER")
    case DESCENT_ERROR_UNKNOWN_ALGORITHM: staticCString("DESCENT_ERROR_UNKNOWN_ALGORITHM")
    case DESCENT_ERROR_UNKNOWN_OPTION: staticCString("DESCENT_ERROR_UNKNOWN_OPTION")
    case DESCENT_ERROR_OUT_OF_RANGE: staticCString("DESCENT_ERROR_OUT_OF_RANGE")
    case DESCENT_ERROR_DUPLICATE_PARAMETER: staticCString("DESCENT_ERROR_DUPLICATE_PARAMETER")
    case DESCENT_ERROR_OVERLAP: staticCString("DESCENT_ERROR_OVERLAP")
    case DESCENT_ERROR_OUT_OF_MEMORY: staticCString("DESCENT_ERROR_OUT_OF_MEMORY")
    case DESCENT_ERROR_INTERNAL: staticCString("DESCENT_ERROR_INTERNAL")
    case DESCENT_ERROR_CALLBACK: staticCString("DESCENT_ERROR_CALLBACK")
    case DESCENT_ERROR_INVALID_STATE: staticCString("DESCENT_ERROR_INVALID_STATE")
    case DESCENT_ERROR_REENTRANT_CALL: staticCString("DESCENT_ERROR_REENTRANT_CALL")
    case DESCENT_ERROR_UNSUPPORTED: staticCString("DESCENT_ERROR_UNSUPPORTED")
    case DESCENT_ERROR_NONFINITE: staticCString("DESCENT_ERROR_NONFINITE")
    case DESCENT_ERROR_CORRUPT_CHECKPOINT: staticCString("DESCENT_ERROR_CORRUPT_CHECKPOINT")
    case DESCENT_ERROR_MISMATCH: staticCString("DESCENT_ERROR_MISMATCH")
    case DESCENT_ERROR_IO: staticCString("DESCENT_ERROR_IO")
    default: staticCString("DESCENT_ERROR_UNKNOWN_STATUS")
    }
}

@_cdecl("descent_algorithm_name")
public func exportAlgorithmName(_ id: descent_algorithm) -> UnsafePointer<CChar>? {
    (try? algorithm(id)).flatMap { algorithmNames[$0] }
}

@_cdecl("descent_option_name")
public func exportOptionName(_ id: descent_option) -> UnsafePointer<CChar>? {
    (try? option(id)).flatMap { optionNames[$0] }
}

@_cdecl("descent_option_kind_of")
public func exportOptionKind(_ id: descent_option) -> descent_option_kind {
    descent_option_kind(rawValue: UInt32(((try? option(id))?.kind ?? .real).rawValue))
}

@_cdecl("descent_option_choice")
public func exportOptionChoice(_ id: descent_option, _ index: Int) -> UnsafePointer<CChar>? {
    guard let option = try? option(id), option.choices.indices.contains(index) else { return nil }
    return choiceNames[option]?[index] ?? nil
}

@_cdecl("descent_option_is_torchs")
public func exportOptionIsTorchs(_ id: descent_option) -> Int32 {
    (try? option(id))?.isTorchs == true ? 1 : 0
}

// MARK: Optimizer lifetime

@_cdecl("descent_default_params")
public func exportDefaultParams(_ id: descent_algorithm, _ out: UnsafeMutablePointer<descent_params>?) -> descent_status {
    callWithoutHandle {
        let out = try required(out, "out")
        out.pointee = descent_params(.defaults(for: try algorithm(id)))
    }
}

@_cdecl("descent_create")
public func exportCreate(_ id: descent_algorithm, _ defaults: UnsafePointer<descent_params>?,
                         _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    out?.pointee = nil
    return callWithoutHandle {
        let out = try required(out, "out")
        let algorithm = try algorithm(id)
        let optimizer = try Optimizer(algorithm: algorithm, defaults: defaults.map {
            try Hyperparameters(checking: $0, over: .defaults(for: algorithm))
        })
        out.pointee = Handle.register(optimizer)
    }
}

@_cdecl("descent_free")
public func exportFree(_ opt: OpaquePointer?) -> descent_status {
    guard let opt else { return DESCENT_OK }
    return callWithoutHandle {
        guard let handle = Registry.lookup(opt, as: Handle.self) else { throw invalidHandle }
        try withHandleLock(handle) {
            guard Registry.remove(opt, as: Handle.self) != nil else { throw invalidHandle }
            handle.isFreed = true
        }
    }
}

@_cdecl("descent_last_error")
public func exportLastError(_ opt: OpaquePointer?) -> UnsafePointer<CChar> {
    guard let opt, let handle = Registry.lookup(opt, as: Handle.self) else { return ThreadError.cString }
    return ThreadMessages.cString(for: handle.id)
}

@_cdecl("descent_get_algorithm")
public func exportGetAlgorithm(_ opt: OpaquePointer?, _ out: UnsafeMutablePointer<descent_algorithm>?) -> descent_status {
    call(opt) { optimizer in
        try required(out, "out").pointee = descent_algorithm(rawValue: UInt32(optimizer.algorithm.rawValue))
    }
}

// MARK: Groups

@_cdecl("descent_add_group")
public func exportAddGroup(_ opt: OpaquePointer?, _ params: UnsafePointer<descent_params>?,
                           _ indexOut: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in
        let group = try optimizer.addGroup(params.map { try Hyperparameters(checking: $0, over: optimizer.defaults) })
        indexOut?.pointee = group
    }
}

@_cdecl("descent_group_count")
public func exportGroupCount(_ opt: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in try required(out, "out").pointee = optimizer.groupCount }
}

@_cdecl("descent_group_get_params")
public func exportGroupGetParams(_ opt: OpaquePointer?, _ group: Int,
                                 _ out: UnsafeMutablePointer<descent_params>?) -> descent_status {
    call(opt) { optimizer in
        let out = try required(out, "out")
        out.pointee = descent_params(try optimizer.hyperparameters(ofGroup: group))
    }
}

@_cdecl("descent_group_set_params")
public func exportGroupSetParams(_ opt: OpaquePointer?, _ group: Int,
                                 _ params: UnsafePointer<descent_params>?) -> descent_status {
    call(opt) { optimizer in
        let params = try required(params, "params")
        try optimizer.setHyperparameters(Hyperparameters(checking: params, over: optimizer.hyperparameters(ofGroup: group)),
                                         ofGroup: group)
    }
}

@_cdecl("descent_group_get")
public func exportGroupGet(_ opt: OpaquePointer?, _ group: Int, _ id: descent_option,
                           _ out: UnsafeMutablePointer<Double>?) -> descent_status {
    call(opt) { optimizer in
        let out = try required(out, "out")
        out.pointee = try optimizer.value(of: try option(id), inGroup: group)
    }
}

@_cdecl("descent_group_set")
public func exportGroupSet(_ opt: OpaquePointer?, _ group: Int, _ id: descent_option,
                           _ value: Double) -> descent_status {
    call(opt) { optimizer in try optimizer.set(try option(id), to: value, inGroup: group) }
}

// MARK: Parameters

@_cdecl("descent_add_param")
public func exportAddParam(_ opt: OpaquePointer?, _ group: Int, _ param: UnsafeMutablePointer<Float>?,
                           _ grad: UnsafeMutablePointer<Float>?, _ numel: Int,
                           _ indexOut: UnsafeMutablePointer<Int>?) -> descent_status {
    exportAddParamFormat(opt, group, param.map(UnsafeMutableRawPointer.init), grad.map(UnsafeMutableRawPointer.init),
                         numel, DESCENT_PARAM_FLOAT32, indexOut)
}

@_cdecl("descent_add_param_format")
public func exportAddParamFormat(_ opt: OpaquePointer?, _ group: Int, _ param: UnsafeMutableRawPointer?,
                                 _ grad: UnsafeMutableRawPointer?, _ numel: Int, _ format: descent_param_format,
                                 _ indexOut: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in
        // A known format that is no parameter format (8-bit) is the engine's refusal.
        guard let elementFormat = UInt8(exactly: format.rawValue).flatMap(ElementFormat.init) else {
            throw DescentError(.invalidArgument, "unknown parameter format \(format.rawValue) (DESCENT_PARAM_FLOAT32, _BFLOAT16 or _FLOAT16)")
        }
        let param = try required(param.map { $0.assumingMemoryBound(to: Float.self) }, "param")
        let index = try optimizer.addParameter(group: group, param: param, grad: grad?.assumingMemoryBound(to: Float.self),
                                               count: numel, format: elementFormat)
        indexOut?.pointee = index
    }
}

@_cdecl("descent_param_format_of")
public func exportParamFormatOf(_ opt: OpaquePointer?, _ index: Int,
                                _ out: UnsafeMutablePointer<descent_param_format>?) -> descent_status {
    call(opt) { optimizer in
        let out = try required(out, "out")
        out.pointee = descent_param_format(rawValue: UInt32(try optimizer.parameterFormat(index).rawValue))
    }
}

@_cdecl("descent_param_count")
public func exportParamCount(_ opt: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in try required(out, "out").pointee = optimizer.parameterCount }
}

@_cdecl("descent_set_grad")
public func exportSetGrad(_ opt: OpaquePointer?, _ index: Int, _ grad: UnsafeMutablePointer<Float>?) -> descent_status {
    call(opt, allowedInClosure: true) { optimizer in try optimizer.setGradient(grad, ofParameter: index) }
}

@_cdecl("descent_param_move")
public func exportParamMove(_ opt: OpaquePointer?, _ index: Int, _ param: UnsafeMutablePointer<Float>?) -> descent_status {
    call(opt) { optimizer in try optimizer.moveParameter(index, to: try required(param, "param")) }
}

@_cdecl("descent_param_set_shape")
public func exportParamSetShape(_ opt: OpaquePointer?, _ index: Int, _ dims: UnsafePointer<Int>?,
                                _ ndim: Int) -> descent_status {
    call(opt) { optimizer in
        // ndim is a size_t: a negative count converted lands above the limit.
        guard UInt(bitPattern: ndim) <= UInt(Optimizer.maxDimensions) else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT,
                           message: "a shape has at most \(Optimizer.maxDimensions) dimensions, got \(UInt(bitPattern: ndim))")
        }
        let dimensions = ndim == 0 ? [] : Array(UnsafeBufferPointer(start: try required(dims, "dims"), count: ndim))
        // Each dims[i] is a size_t: one above Int.max reads as negative and is refused.
        try optimizer.setShape(dimensions, ofParameter: index)
    }
}

@_cdecl("descent_param_shape")
public func exportParamShape(_ opt: OpaquePointer?, _ index: Int, _ dims: UnsafeMutablePointer<Int>?,
                             _ capacity: Int, _ ndimOut: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in
        let ndimOut = try required(ndimOut, "ndim_out")
        try write(try optimizer.shape(ofParameter: index), of: "parameter \(index)", dims, capacity, ndimOut)
    }
}

@_cdecl("descent_param_state_shape")
public func exportParamStateShape(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?,
                                  _ dims: UnsafeMutablePointer<Int>?, _ capacity: Int,
                                  _ ndimOut: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in
        let ndimOut = try required(ndimOut, "ndim_out")
        let name = try requiredString(name, "name")
        try write(try optimizer.stateShape(named: name, ofParameter: index), of: "state '\(name)' of parameter \(index)",
                  dims, capacity, ndimOut)
    }
}

/// Writes `shape` as descent_param_shape() does: the count always, the dimensions when
/// `capacity` holds them.
private func write(_ shape: [Int], of what: String, _ dims: UnsafeMutablePointer<Int>?, _ capacity: Int,
                   _ ndimOut: UnsafeMutablePointer<Int>) throws {
    ndimOut.pointee = shape.count
    guard UInt(bitPattern: capacity) >= UInt(shape.count) else {
        throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT,
                       message: "the shape of \(what) has \(shape.count) dimensions, capacity is \(UInt(bitPattern: capacity)) (*ndim_out holds the count)")
    }
    guard !shape.isEmpty else { return }
    let dims = try required(dims, "dims")
    for (axis, size) in shape.enumerated() { dims[axis] = size }
}

@_cdecl("descent_set_sparse_grad")
public func exportSetSparseGrad(_ opt: OpaquePointer?, _ index: Int, _ indices: UnsafePointer<Int64>?, _ count: Int,
                                _ values: UnsafePointer<Float>?, _ rowSize: Int) -> descent_status {
    call(opt) { optimizer in
        try optimizer.setSparseGradient(ofParameter: index, indices: indices, values: values, count: count,
                                        rowSize: rowSize)
    }
}

@_cdecl("descent_param_step_count")
public func exportParamStepCount(_ opt: OpaquePointer?, _ index: Int,
                                 _ out: UnsafeMutablePointer<Int64>?) -> descent_status {
    call(opt) { optimizer in
        let out = try required(out, "out")
        out.pointee = try optimizer.stepCount(ofParameter: index)
    }
}

@_cdecl("descent_param_step_counts")
public func exportParamStepCounts(_ opt: OpaquePointer?, _ first: Int, _ count: Int,
                                  _ out: UnsafeMutablePointer<Int64>?) -> descent_status {
    call(opt) { optimizer in
        let counts = try optimizer.stepCounts(ofParameters: UInt(bitPattern: first), count: UInt(bitPattern: count))
        guard !counts.isEmpty else { return }
        let out = try required(out, "out")
        for (offset, steps) in counts.enumerated() { out[offset] = steps }
    }
}

@_cdecl("descent_param_state")
public func exportParamState(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?,
                             _ out: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?) -> descent_status {
    stateBuffer(opt, index, name, out, create: false)
}

@_cdecl("descent_param_create_state")
public func exportParamCreateState(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?,
                                   _ out: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?) -> descent_status {
    stateBuffer(opt, index, name, out, create: true)
}

private func stateBuffer(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?,
                         _ out: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?, create: Bool) -> descent_status {
    call(opt) { optimizer in
        let out = try required(out, "out")
        let name = try requiredString(name, "name")
        out.pointee = create ? try optimizer.createState(named: name, ofParameter: index)
                             : try optimizer.state(named: name, ofParameter: index)
    }
}

@_cdecl("descent_param_state_format")
public func exportParamStateFormat(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?,
                                   _ out: UnsafeMutablePointer<descent_state_format>?) -> descent_status {
    call(opt) { optimizer in
        let out = try required(out, "out")
        let name = try requiredString(name, "name")
        out.pointee = descent_state_format(rawValue: UInt32(try optimizer.stateFormat(named: name, ofParameter: index).rawValue))
    }
}

@_cdecl("descent_param_state_data")
public func exportParamStateData(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?, _ create: Int32,
                                 _ data: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                 _ absmax: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?) -> descent_status {
    call(opt) { optimizer in
        let data = try required(data, "data")
        let name = try requiredString(name, "name")
        let memory = try optimizer.stateMemory(named: name, ofParameter: index, create: create != 0)
        let format = try optimizer.stateFormat(named: name, ofParameter: index)
        data.pointee = memory?.baseAddress
        absmax?.pointee = nil
        if let memory, format == .int8Blockwise {
            let count = try optimizer.stateShape(named: name, ofParameter: index).reduce(1, *)
            absmax?.pointee = (memory.baseAddress! + Blockwise8Bit.absmaxOffset(count)).assumingMemoryBound(to: Float.self)
        }
    }
}

@_cdecl("descent_param_state_code_map")
public func exportParamStateCodeMap(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?,
                                    _ map: UnsafeMutablePointer<UnsafePointer<Float>?>?) -> descent_status {
    call(opt) { optimizer in
        let map = try required(map, "map")
        let name = try requiredString(name, "name")
        map.pointee = try optimizer.codeBook(named: name, ofParameter: index).values
    }
}

@_cdecl("descent_param_read_state")
public func exportParamReadState(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?,
                                 _ out: UnsafeMutablePointer<Float>?, _ count: Int,
                                 _ present: UnsafeMutablePointer<Int32>?) -> descent_status {
    call(opt) { optimizer in
        let present = try required(present, "present")
        let name = try requiredString(name, "name")
        let out = try required(out, "out")
        present.pointee = try optimizer.readState(named: name, ofParameter: index, into: out,
                                                  count: UInt(bitPattern: count)) ? 1 : 0
    }
}

@_cdecl("descent_param_write_state")
public func exportParamWriteState(_ opt: OpaquePointer?, _ index: Int, _ name: UnsafePointer<CChar>?,
                                  _ values: UnsafePointer<Float>?, _ count: Int) -> descent_status {
    call(opt) { optimizer in
        let name = try requiredString(name, "name")
        let values = try required(values, "values")
        try optimizer.writeState(named: name, ofParameter: index, from: values, count: UInt(bitPattern: count))
    }
}

@_cdecl("descent_param_set_step_count")
public func exportParamSetStepCount(_ opt: OpaquePointer?, _ index: Int, _ step: Int64) -> descent_status {
    call(opt) { optimizer in try optimizer.setStepCount(step, ofParameter: index) }
}

// MARK: Step

@_cdecl("descent_step")
public func exportStep(_ opt: OpaquePointer?) -> descent_status {
    call(opt) { optimizer in try optimizer.step() }
}

@_cdecl("descent_step_with_grads")
public func exportStepWithGrads(_ opt: OpaquePointer?, _ grads: UnsafePointer<UnsafePointer<Float>?>?,
                                _ count: Int) -> descent_status {
    call(opt) { optimizer in
        // Check the count before reading `count` pointers from the caller's array.
        guard count == optimizer.parameterCount else {
            throw DescentError(.invalidArgument, "expected \(optimizer.parameterCount) gradients (one per parameter), got \(count)")
        }
        let gradients = count == 0 ? [] : Array(UnsafeBufferPointer(start: try required(grads, "grads"), count: count))
        try optimizer.step(gradients: gradients)
    }
}

@_cdecl("descent_zero_grad")
public func exportZeroGrad(_ opt: OpaquePointer?) -> descent_status {
    call(opt, allowedInClosure: true) { optimizer in optimizer.zeroGrad() }
}

@_cdecl("descent_step_closure")
public func exportStepClosure(_ opt: OpaquePointer?, _ closure: descent_closure?, _ userData: UnsafeMutableRawPointer?,
                              _ loss: UnsafeMutablePointer<Double>?) -> descent_status {
    callHandle(opt) { handle in
        guard let closure else { throw ABIError(status: DESCENT_ERROR_NULL_POINTER, message: "closure is NULL") }
        var calls = 0
        let first = try handle.optimizer.step { () throws(DescentError) -> Double in
            var value = 0.0
            calls += 1
            let result = CallbackScope.run(for: handle, isClosure: true) { closure(userData, &value) }
            guard result == 0 else {
                throw DescentError(.callbackFailed, "the closure returned \(result) (call \(calls) of this step)")
            }
            return value
        }
        loss?.pointee = first
    }
}
