#if canImport(Glibc)
import Glibc
#endif

/// Checkpoints on disk. A save never leaves a torn file at `path`: it writes a temporary
/// file in the same directory, fsyncs it, renames it over `path` and fsyncs the
/// directory, so a crash at any moment leaves the old checkpoint or the new one. (A crash
/// before the rename can leave the temporary file, "<path>.tmp-XXXXXX", behind.)
extension Optimizer {
    /// The suffix of the temporary file a save writes next to its target.
    static let temporarySuffix = ".tmp-XXXXXX"

    public func saveCheckpoint(toFile path: String) throws(DescentError) {
        guard !path.isEmpty else { throw DescentError(.invalidArgument, "path is empty") }
        let path = try saveTarget(path)
        var template = Array((path + Self.temporarySuffix).utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw ioError("cannot create a temporary file next to", path) }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do throws(DescentError) {
            // mkstemp makes the file private (0600); a checkpoint gets a data file's mode.
            fchmod(fd, 0o644)
            do {
                try writeCheckpoint { piece in try writeAll(fd, piece, temporary) }
            } catch let error as DescentError {
                throw error
            } catch {
                throw DescentError(.io, "cannot write '\(temporary)': \(error)")
            }
            guard fsync(fd) == 0 else { throw ioError("cannot fsync", temporary) }
            guard close(fd) == 0 else { throw ioError("cannot close", temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let error = ioError("cannot rename \(temporary) to", path)
            unlink(temporary)
            throw error
        }
        try syncDirectory(of: path)
    }

    /// Loads a checkpoint file as `loadCheckpoint(_:)` loads bytes, reading only the bytes
    /// its header and section lengths declare: a file longer or shorter than that is
    /// refused before its payloads are read.
    public func loadCheckpoint(fromFile path: String) throws(DescentError) {
        // Refused before it is opened: opening a device can act on it (a tty, a tape).
        var info = stat()
        guard stat(path, &info) == 0 else { throw ioError("cannot open checkpoint", path) }
        try requireRegularFile(path, info)
        // O_NONBLOCK: should the path become a FIFO in between, opening it would wait for
        // a writer (forever, with the optimizer's lock held); fstat refuses it instead.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("cannot open checkpoint", path) }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else { throw ioError("cannot stat", path) }
        try requireRegularFile(path, info)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        let fileSize = Int(info.st_size)
        // The header and each section's framing, read one at a time (at most 24 bytes).
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: CheckpointFormat.headerSize, alignment: 8)
        defer { scratch.deallocate() }
        let size = try CheckpointContents.declaredSize(fileSize) { (offset, count) throws(DescentError) in
            let piece = UnsafeMutableRawBufferPointer(rebasing: scratch[..<count])
            try readAll(fd, piece, at: offset, path)
            return UnsafeRawBufferPointer(piece)
        }
        // malloc, not allocate(byteCount:), which ends the process when memory runs out.
        guard let memory = malloc(max(size, 1)) else {
            throw DescentError(.outOfMemory, "cannot allocate \(size) bytes to read '\(path)'")
        }
        defer { free(memory) }
        let buffer = UnsafeMutableRawBufferPointer(start: memory, count: max(size, 1))
        try readAll(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[..<size]), at: 0, path)
        try loadCheckpoint(UnsafeRawBufferPointer(rebasing: buffer[..<size]))
    }
}

/// Where a save to `path` writes: `path` itself when nothing or a regular file is there,
/// or the regular file a symlink there resolves to (the link is kept). Anything else is
/// refused: the rename would replace a directory entry that is not a regular file (a
/// FIFO, socket or device node) with one. Checked when the save starts.
private func saveTarget(_ path: String) throws(DescentError) -> String {
    var info = stat()
    guard lstat(path, &info) == 0 else {
        if errno == ENOENT { return path }
        throw ioError("cannot stat", path)
    }
    switch info.st_mode & S_IFMT {
    case S_IFREG:
        return path
    case S_IFLNK:
        guard let resolved = realpath(path, nil) else { throw ioError("cannot resolve the symlink", path) }
        defer { free(resolved) }
        let target = String(cString: resolved)
        guard stat(target, &info) == 0 else { throw ioError("cannot stat", target) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw DescentError(.io, "'\(path)' is a symlink to '\(target)', which is \(fileKind(info.st_mode)), not a regular file")
        }
        return target
    default:
        throw DescentError(.io, "'\(path)' is \(fileKind(info.st_mode)), not a regular file: a checkpoint replaces only a regular file")
    }
}

private func requireRegularFile(_ path: String, _ info: stat) throws(DescentError) {
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        throw DescentError(.io, "'\(path)' is \(fileKind(info.st_mode)), not a regular file")
    }
}

private func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: "a directory"
    case S_IFIFO: "a FIFO"
    case S_IFSOCK: "a socket"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFLNK: "a symlink"
    default: "a special file"
    }
}

/// Fills `buffer` from `fd` at `offset`; a file that ends first has shrunk since its
/// size was read.
private func readAll(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int, _ path: String) throws(DescentError) {
    var done = 0
    while done < buffer.count {
        let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
        if n < 0, errno == EINTR { continue }
        guard n > 0 else {
            if n == 0 { throw DescentError(.io, "'\(path)' shrank while being read") }
            throw ioError("cannot read", path)
        }
        done += n
    }
}

private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: String) throws(DescentError) {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { throw ioError("cannot write", path) }
        done += n
    }
}

/// Makes a rename in the directory of `path` durable.
private func syncDirectory(of path: String) throws(DescentError) {
    let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
    let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw ioError("cannot open the directory", directory) }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw ioError("cannot fsync the directory", directory) }
}

private func ioError(_ what: String, _ path: String) -> DescentError {
    DescentError(.io, "\(what) '\(path)': \(String(cString: strerror(errno)))")
}
