import CDescent
import Descent
#if canImport(Glibc)
import Glibc
#endif

// What the library's algorithms are, read from their descriptions (include/descent.h,
// section "introspection"), and optimizers made from (option id, value) pairs.

@_cdecl("descent_algorithm_count")
public func exportAlgorithmCount() -> Int { Algorithm.allCases.count }

@_cdecl("descent_algorithm_at")
public func exportAlgorithmAt(_ index: Int) -> descent_algorithm {
    guard Algorithm.allCases.indices.contains(index) else { return descent_algorithm(rawValue: 0) }
    return descent_algorithm(rawValue: UInt32(Algorithm.allCases[index].rawValue))
}

@_cdecl("descent_algorithm_options")
public func exportAlgorithmOptions(_ id: descent_algorithm, _ out: UnsafeMutablePointer<descent_option_info>?,
                                   _ capacity: Int, _ count: UnsafeMutablePointer<Int>?) -> descent_status {
    callWithoutHandle {
        let parameters = try algorithm(id).description.hyperparameters
        try required(count, "count").pointee = parameters.count
        for (i, parameter) in parameters.prefix(try capacityChecked(out, capacity)).enumerated() {
            out![i] = descent_option_info(option: descent_option(rawValue: UInt32(parameter.option.rawValue)),
                                          name: optionNames[parameter.option]!,
                                          default_value: parameter.defaultValue,
                                          is_flag: parameter.option.isBoolean)
        }
    }
}

@_cdecl("descent_algorithm_state")
public func exportAlgorithmState(_ id: descent_algorithm, _ out: UnsafeMutablePointer<descent_state_info>?,
                                 _ capacity: Int, _ count: UnsafeMutablePointer<Int>?) -> descent_status {
    callWithoutHandle {
        let algorithm = try algorithm(id)
        let slots = algorithm.description.state
        try required(count, "count").pointee = slots.count
        for (i, slot) in slots.prefix(try capacityChecked(out, capacity)).enumerated() {
            out![i] = descent_state_info(name: stateNames[algorithm]![i],
                                         shape: descent_state_shape(rawValue: UInt32(slot.shape.rawValue)),
                                         format: descent_state_format(rawValue: UInt32(slot.format.rawValue)))
        }
    }
}

@_cdecl("descent_algorithm_traits")
public func exportAlgorithmTraits(_ id: descent_algorithm) -> UInt32 {
    (try? algorithm(id)).map { $0.description.allTraits.rawValue } ?? 0
}

@_cdecl("descent_create_with")
public func exportCreateWith(_ id: descent_algorithm, _ options: UnsafePointer<descent_option>?,
                             _ values: UnsafePointer<Double>?, _ count: Int,
                             _ out: UnsafeMutablePointer<OpaquePointer?>?) -> descent_status {
    out?.pointee = nil
    return callWithoutHandle {
        let out = try required(out, "out")
        let algorithm = try algorithm(id)
        let defaults = try algorithm.description.defaults.setting(try pairs(options, values, count), for: algorithm)
        out.pointee = Handle.register(try Optimizer(algorithm: algorithm, defaults: defaults))
    }
}

@_cdecl("descent_add_group_with")
public func exportAddGroupWith(_ opt: OpaquePointer?, _ options: UnsafePointer<descent_option>?,
                               _ values: UnsafePointer<Double>?, _ count: Int,
                               _ indexOut: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in
        let hp = try optimizer.defaults.setting(try pairs(options, values, count), for: optimizer.algorithm)
        // Not `indexOut?.pointee = try …`: optional chaining would skip the call when NULL.
        let index = try optimizer.addGroup(hp)
        indexOut?.pointee = index
    }
}

@_cdecl("descent_group_set_with")
public func exportGroupSetWith(_ opt: OpaquePointer?, _ group: Int, _ options: UnsafePointer<descent_option>?,
                               _ values: UnsafePointer<Double>?, _ count: Int) -> descent_status {
    call(opt) { optimizer in
        let hp = try optimizer.hyperparameters(ofGroup: group).setting(try pairs(options, values, count),
                                                                       for: optimizer.algorithm)
        try optimizer.setHyperparameters(hp, ofGroup: group)
    }
}

/// The caller's `count` option ids and values, checked before they are read.
private func pairs(_ options: UnsafePointer<descent_option>?, _ values: UnsafePointer<Double>?,
                   _ count: Int) throws -> [(Option, Double)] {
    guard count >= 0, count <= Int.max / 64 else {
        throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "count \(count) is too large (a negative count passed as size_t?)")
    }
    if count == 0 { return [] }
    let ids = UnsafeBufferPointer(start: try required(options, "options"), count: count)
    let numbers = UnsafeBufferPointer(start: try required(values, "values"), count: count)
    return try zip(ids, numbers).map { (try option($0), $1) }
}

/// How many entries a caller's array of `capacity` may receive: `out` (named `name`) may
/// be NULL only when `capacity` is 0 (a call that asks for the count alone).
func capacityChecked<T>(_ out: UnsafeMutablePointer<T>?, _ capacity: Int, name: String = "out") throws -> Int {
    guard capacity >= 0, capacity <= Int.max / 64 else {
        throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "capacity \(capacity) is too large (a negative count passed as size_t?)")
    }
    if capacity > 0 { _ = try required(out, name) }
    return capacity
}

/// C strings that live as long as the process, made once from the descriptions.
nonisolated(unsafe) let algorithmNames: [Algorithm: UnsafePointer<CChar>] = Dictionary(
    uniqueKeysWithValues: Algorithm.allCases.map { ($0, UnsafePointer(strdup($0.name)!)) })

nonisolated(unsafe) let optionNames: [Option: UnsafePointer<CChar>] = Dictionary(
    uniqueKeysWithValues: Option.allCases.map { ($0, UnsafePointer(strdup($0.name)!)) })

nonisolated(unsafe) let choiceNames: [Option: [UnsafePointer<CChar>?]] = Dictionary(
    uniqueKeysWithValues: Option.allCases.map { option in
        (option, option.choices.map { $0.map { UnsafePointer(strdup($0)!) } })
    })

nonisolated(unsafe) private let stateNames: [Algorithm: [UnsafePointer<CChar>]] = Dictionary(
    uniqueKeysWithValues: Algorithm.allCases.map { algorithm in
        (algorithm, algorithm.description.stateNames.map { UnsafePointer(strdup($0)!) })
    })
