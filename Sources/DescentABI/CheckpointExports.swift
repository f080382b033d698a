import CDescent
import Descent

// The exported checkpoint functions of include/descent.h (section "checkpoints").

@_cdecl("descent_checkpoint_size")
public func exportCheckpointSize(_ opt: OpaquePointer?, _ out: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in try required(out, "out").pointee = optimizer.checkpointSize() }
}

@_cdecl("descent_checkpoint_save")
public func exportCheckpointSave(_ opt: OpaquePointer?, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int,
                                 _ written: UnsafeMutablePointer<Int>?) -> descent_status {
    call(opt) { optimizer in
        let size = optimizer.checkpointSize()
        written?.pointee = size
        guard capacity >= size else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "buffer of \(capacity) bytes is too small for the checkpoint (\(size) bytes; *written holds the size)")
        }
        let buffer = UnsafeMutableRawBufferPointer(start: try requiredBytes(buffer, "buffer"), count: size)
        // Not `written?.pointee = try …`: optional chaining would skip the save when NULL.
        let count = try optimizer.saveCheckpoint(into: buffer)
        written?.pointee = count
    }
}

@_cdecl("descent_checkpoint_save_file")
public func exportCheckpointSaveFile(_ opt: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> descent_status {
    call(opt) { optimizer in try optimizer.saveCheckpoint(toFile: try string(path, "path")) }
}

@_cdecl("descent_checkpoint_load")
public func exportCheckpointLoad(_ opt: OpaquePointer?, _ buffer: UnsafeRawPointer?, _ size: Int) -> descent_status {
    call(opt) { optimizer in
        guard size >= 0, size <= Int.max / 64 else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "size \(size) is too large (a negative size passed as size_t?)")
        }
        let bytes = size == 0 ? UnsafeRawBufferPointer(start: nil, count: 0)
                              : UnsafeRawBufferPointer(start: try requiredBytes(buffer, "buffer"), count: size)
        try optimizer.loadCheckpoint(bytes)
    }
}

@_cdecl("descent_checkpoint_load_file")
public func exportCheckpointLoadFile(_ opt: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> descent_status {
    call(opt) { optimizer in try optimizer.loadCheckpoint(fromFile: try string(path, "path")) }
}

/// A path argument as a Swift string: NULL and bytes that are not UTF-8 are refused.
private func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
    guard let value = String(validatingCString: try required(pointer, name)) else {
        throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT, message: "\(name) is not valid UTF-8")
    }
    return value
}
