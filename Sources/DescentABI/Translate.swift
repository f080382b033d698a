import CDescent
import Descent

/// Conversions between the header's types and the engine's.

extension descent_status {
    init(_ kind: DescentError.Kind) {
        switch kind {
        case .invalidArgument: self = DESCENT_ERROR_INVALID_ARGUMENT
        case .invalidHyperparameter: self = DESCENT_ERROR_INVALID_HYPERPARAMETER
        case .unknownAlgorithm: self = DESCENT_ERROR_UNKNOWN_ALGORITHM
        case .unknownOption: self = DESCENT_ERROR_UNKNOWN_OPTION
        case .outOfRange: self = DESCENT_ERROR_OUT_OF_RANGE
        case .duplicateParameter: self = DESCENT_ERROR_DUPLICATE_PARAMETER
        case .overlap: self = DESCENT_ERROR_OVERLAP
        case .outOfMemory: self = DESCENT_ERROR_OUT_OF_MEMORY
        case .callbackFailed: self = DESCENT_ERROR_CALLBACK
        case .invalidState: self = DESCENT_ERROR_INVALID_STATE
        case .unsupported: self = DESCENT_ERROR_UNSUPPORTED
        case .nonfinite: self = DESCENT_ERROR_NONFINITE
        case .corruptCheckpoint: self = DESCENT_ERROR_CORRUPT_CHECKPOINT
        case .mismatch: self = DESCENT_ERROR_MISMATCH
        case .io: self = DESCENT_ERROR_IO
        }
    }
}

/// descent_params' fields by option, in the struct's order. The struct is frozen (the
/// original fourteen); later options exist only as ids.
private let paramsFields: [(Option, WritableKeyPath<descent_params, Double> & Sendable)] = [
    (.lr, \.lr), (.momentum, \.momentum), (.dampening, \.dampening), (.weightDecay, \.weight_decay),
    (.beta1, \.beta1), (.beta2, \.beta2), (.eps, \.eps), (.alpha, \.alpha), (.lrDecay, \.lr_decay),
    (.initialAccumulatorValue, \.initial_accumulator_value),
]
private let paramsFlags: [(Option, WritableKeyPath<descent_params, Bool> & Sendable)] = [
    (.nesterov, \.nesterov), (.maximize, \.maximize), (.amsgrad, \.amsgrad), (.centered, \.centered),
]

extension Hyperparameters {
    /// `base` with descent_params' fourteen fields from `p`: a later algorithm's own
    /// hyperparameters, which the struct does not hold, keep `base`'s values.
    init(_ p: descent_params, over base: Hyperparameters) {
        self = base
        for (option, field) in paramsFields { self[option] = p[keyPath: field] }
        for (option, field) in paramsFlags { self[option] = p[keyPath: field] ? 1 : 0 }
    }
}

extension descent_params {
    init(_ hp: Hyperparameters) {
        self.init()
        for (option, field) in paramsFields { self[keyPath: field] = hp[option] }
        for (option, field) in paramsFlags { self[keyPath: field] = hp.isSet(option) }
    }
}

func algorithm(_ id: descent_algorithm) throws(DescentError) -> Algorithm {
    guard let algorithm = Algorithm(rawValue: Int32(bitPattern: id.rawValue)) else {
        throw DescentError(.unknownAlgorithm, "unknown algorithm id \(Int32(bitPattern: id.rawValue))")
    }
    return algorithm
}

func option(_ id: descent_option) throws(DescentError) -> Option {
    guard let option = Option(rawValue: Int32(bitPattern: id.rawValue)) else {
        throw DescentError(.unknownOption, "unknown option id \(Int32(bitPattern: id.rawValue))")
    }
    return option
}

/// Reads a caller's struct after checking its C `bool` fields byte by byte. A bool that
/// holds a byte other than 0 or 1 (written through memset, memcpy or a cast) would be
/// undefined behaviour once Swift reads it as Bool, so it is refused instead.
func load<T>(_ pointer: UnsafePointer<T>, _ type: String, flags: [(KeyPath<T, Bool>, String)]) throws -> T {
    for (field, name) in flags {
        guard let offset = MemoryLayout<T>.offset(of: field) else { continue }
        let byte = UnsafeRawPointer(pointer).load(fromByteOffset: offset, as: UInt8.self)
        guard byte <= 1 else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT,
                           message: "\(type).\(name) holds the byte \(byte); a bool must be 0 (false) or 1 (true)")
        }
    }
    return pointer.pointee
}

extension Hyperparameters {
    /// `*pointer` over `base`, its flags checked (see `load`).
    init(checking pointer: UnsafePointer<descent_params>, over base: Hyperparameters) throws {
        self.init(try load(pointer, "descent_params", flags: paramsFlags.map { ($0.1, $0.0.name) }), over: base)
    }
}
