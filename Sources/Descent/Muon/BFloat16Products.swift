#if canImport(Glibc)
import Glibc
#endif
import BFloat16Matmul

/// oneDNN's bfloat16 matrix products, through BFloat16Matmul (C): loaded on the first
/// Muon step that needs one, each product shape made once per process and kept (oneDNN
/// generates code for it).
public enum BFloat16Products {
    private static let lock = Lock()
    nonisolated(unsafe) private static var made: [Key: OpaquePointer] = [:]

    private struct Key: Hashable {
        let m: Int, n: Int, k: Int, transposedB: Bool, alpha: Float, beta: Float, threads: Int
    }

    /// Loads oneDNN from `path`, or (nil) from where BFloat16Matmul looks: the file named
    /// by DESCENT_ONEDNN, libdnnl.so.3 next to libdescent.so, the dynamic linker's search.
    public static func load(path: String?) throws(DescentError) {
        var message = [CChar](repeating: 0, count: 8192)
        let status = path.map { bf16_matmul_load($0, &message, message.count) } ?? bf16_matmul_load(nil, &message, message.count)
        guard status == 0 else {
            throw DescentError(.unsupported, "Muon's matrix products need oneDNN (\(BF16_MATMUL_ONEDNN_SONAME)): "
                               + text(message))
        }
    }

    /// Where oneDNN was loaded from (a string that lives as long as the process); nil before.
    public static var loadedPath: UnsafePointer<CChar>? { bf16_matmul_loaded_path() }

    /// The product C[m×n] = alpha·A[m×k]·op(B) + beta·C on `threads` threads (see
    /// bf16_matmul_create).
    static func product(m: Int, n: Int, k: Int, transposedB: Bool, alpha: Float, beta: Float,
                        threads: Int) throws(DescentError) -> OpaquePointer {
        let key = Key(m: m, n: n, k: k, transposedB: transposedB, alpha: alpha, beta: beta, threads: threads)
        if let product = lock.withLock({ made[key] }) { return product }
        try load(path: nil)
        var message = [CChar](repeating: 0, count: 1024)
        guard let product = bf16_matmul_create(Int64(m), Int64(n), Int64(k), transposedB ? 1 : 0, alpha, beta,
                                               Int32(threads), &message, message.count) else {
            throw DescentError(.outOfMemory, text(message))
        }
        return lock.withLock {
            if let earlier = made[key] {  // another thread made it meanwhile
                bf16_matmul_destroy(product)
                return earlier
            }
            made[key] = product
            return product
        }
    }

    /// Runs `product` (its scratch memory given). A failure here is oneDNN's own
    /// (its memory objects or stream), not one of sizes or memory the caller checked.
    static func run(_ product: OpaquePointer, _ a: UnsafePointer<UInt16>, _ b: UnsafePointer<UInt16>,
                    _ c: UnsafeMutablePointer<UInt16>, scratch: UnsafeMutableRawPointer?, threads: Int) -> String? {
        var message = [CChar](repeating: 0, count: 512)
        guard bf16_matmul_run(product, a, b, c, scratch, Int32(threads), &message, message.count) == 0 else {
            return text(message)
        }
        return nil
    }

    static func scratchBytes(_ product: OpaquePointer) -> Int { bf16_matmul_scratch_bytes(product) }

    /// Calls `body(thread, threads)` once on each of up to `threads` threads of oneDNN's
    /// OpenMP team (see bf16_matmul_parallel), the calling thread included.
    static func parallel(threads: Int, _ body: (Int, Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var body = body
            withUnsafeMutablePointer(to: &body) { pointer in
                bf16_matmul_parallel(Int32(threads), { context, thread, threads in
                    context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(thread), Int(threads))
                }, pointer)
            }
        }
    }

    /// The C string a BFloat16Matmul call wrote into `buffer`.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
