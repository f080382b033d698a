#if canImport(Glibc)
import Glibc
#endif

/// Checkpoints on disk. A save never leaves a torn file at `path`: it writes a temporary
/// file in the same directory, fsyncs it, renames it over `path` and fsyncs the
/// directory, so a crash at any moment leaves the old checkpoint or the new one. (A crash
/// before the rename can leave the temporary file, "<path>.tmp-XXXXXX", behind.)
extension Optimizer {
    public func saveCheckpoint(toFile path: String) throws(DescentError) {
        guard !path.isEmpty else { throw DescentError(.invalidArgument, "path is empty") }
        var template = Array((path + ".tmp-XXXXXX").utf8CString)
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

    /// Loads a checkpoint file as `loadCheckpoint(_:)` loads bytes.
    public func loadCheckpoint(fromFile path: String) throws(DescentError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("cannot open checkpoint", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ioError("cannot stat", path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw DescentError(.io, "'\(path)' is not a regular file")
        }
        let size = Int(info.st_size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 64)
        defer { buffer.deallocate() }
        var done = 0
        while done < size {
            let n = read(fd, buffer.baseAddress! + done, size - done)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                if n == 0 { throw DescentError(.io, "'\(path)' shrank while being read") }
                throw ioError("cannot read", path)
            }
            done += n
        }
        try loadCheckpoint(UnsafeRawBufferPointer(rebasing: buffer[..<size]))
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
