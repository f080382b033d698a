import CDescent
import Descent
import KernelInterface

// Process-wide execution settings (header section "execution"); failures go to the
// thread's last error, read with descent_last_error(NULL).

@_cdecl("descent_set_num_threads")
public func exportSetNumThreads(_ count: Int32) -> descent_status {
    callWithoutHandle { try Runtime.setThreadCount(Int(count)) }
}

@_cdecl("descent_get_num_threads")
public func exportGetNumThreads() -> Int32 {
    Int32(clamping: Runtime.threadCount)
}

@_cdecl("descent_isa_supported")
public func exportISASupported(_ id: descent_isa) -> Int32 {
    guard let isa = InstructionSet(rawValue: Int32(bitPattern: id.rawValue)) else { return 0 }
    return Runtime.isSupported(isa) ? 1 : 0
}

@_cdecl("descent_set_isa")
public func exportSetISA(_ id: descent_isa) -> descent_status {
    callWithoutHandle {
        guard let isa = InstructionSet(rawValue: Int32(bitPattern: id.rawValue)) else {
            throw ABIError(status: DESCENT_ERROR_INVALID_ARGUMENT,
                           message: "unknown instruction set id \(Int32(bitPattern: id.rawValue))")
        }
        try Runtime.setInstructionSet(isa)
    }
}

@_cdecl("descent_get_isa")
public func exportGetISA() -> descent_isa {
    descent_isa(rawValue: UInt32(bitPattern: Runtime.instructionSet.rawValue))
}

@_cdecl("descent_isa_name")
public func exportISAName(_ id: descent_isa) -> UnsafePointer<CChar> {
    switch InstructionSet(rawValue: Int32(bitPattern: id.rawValue)) {
    case .portable: staticCString("portable")
    case .avx2: staticCString("avx2")
    case .avx512: staticCString("avx512")
    case nil: staticCString("unknown")
    }
}

@_cdecl("descent_load_onednn")
public func exportLoadOneDNN(_ path: UnsafePointer<CChar>?) -> descent_status {
    callWithoutHandle { try BFloat16Products.load(path: path.map { String(cString: $0) }) }
}

@_cdecl("descent_onednn_path")
public func exportOneDNNPath() -> UnsafePointer<CChar>? {
    BFloat16Products.loadedPath
}
