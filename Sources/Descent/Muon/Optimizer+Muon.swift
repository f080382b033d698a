import KernelInterface

/// One parameter's Muon step: its matrix as the Newton–Schulz iteration sees it (torch
/// transposes a matrix with more rows than columns, so that X·Xᵀ is the smaller Gram
/// matrix), the oneDNN products for that shape, and the per-step scalars.
struct MuonMatrix {
    let parameter: Parameter
    /// Its index among the optimizer's parameters, for messages.
    let index: Int
    let grad: UnsafeMutablePointer<Float>
    /// The iterated matrix X is m × n, m ≤ n: the parameter's, or its transpose.
    let m: Int, n: Int
    let transposed: Bool
    let steps: Int
    /// A = X·Xᵀ; B = c·A·A + b·A; X' = B·X + a·X. nil when `steps` is 0.
    let products: (gram: OpaquePointer, square: OpaquePointer, next: OpaquePointer)?
    /// The threads the products were made for (a step's count, read once).
    let threads: Int
    let bufferWeight: Float, nesterovWeight: Float, nesterov: Bool
    let eps: Float, decay: Float, a: Float

    init(_ parameter: Parameter, index: Int, grad: UnsafeMutablePointer<Float>, _ hp: Hyperparameters,
         threads: Int) throws(DescentError) {
        self.parameter = parameter
        self.index = index
        self.grad = grad
        let (rows, columns) = (parameter.shape[0], parameter.shape[1])
        transposed = rows > columns
        (m, n) = transposed ? (columns, rows) : (rows, columns)
        steps = Int(hp[.nsSteps])
        self.threads = threads
        if steps > 0 {
            let (a, b, c) = (Float(hp[.nsCoefficientA]), Float(hp[.nsCoefficientB]), Float(hp[.nsCoefficientC]))
            products = (try BFloat16Products.product(m: m, n: m, k: n, transposedB: true, alpha: 1, beta: 0,
                                                     threads: threads),
                        try BFloat16Products.product(m: m, n: m, k: m, transposedB: false, alpha: c, beta: b,
                                                     threads: threads),
                        try BFloat16Products.product(m: m, n: n, k: m, transposedB: false, alpha: 1, beta: a,
                                                     threads: threads))
        } else {
            products = nil
        }
        // torch: buf.lerp_(grad, 1 - momentum); grad.lerp(buf, momentum).
        bufferWeight = Float(1 - hp[.momentum])
        nesterovWeight = Float(hp[.momentum])
        nesterov = hp.isSet(.nesterov)
        eps = Float(hp[.eps])
        decay = Float(1 - hp[.lr] * hp[.weightDecay])
        a = Float(-MuonLRAdjustment(hp).adjustedLR(hp[.lr], rows: rows, columns: columns))
    }

    /// bfloat16 elements of scratch the iteration needs: X and X' (m × n), A and B (m × m).
    var scratchElements: Int { 2 * m * n + 2 * m * m }

    var productScratchBytes: Int {
        guard let products else { return 0 }
        return [products.gram, products.square, products.next].map(BFloat16Products.scratchBytes).max()!
    }
}

/// The memory of a Muon step, taken before it changes anything and kept for the next.
final class MuonScratch {
    let elements: UnsafeMutablePointer<UInt16>
    let products: UnsafeMutableRawPointer
    let partials: UnsafeMutablePointer<Double>
    private let capacity: (elements: Int, productBytes: Int, chunks: Int)
    private let memory: ScratchMemory

    /// Scratch for `matrices`: `kept` when it is large enough, else new memory.
    static func reusing(_ kept: MuonScratch?, for matrices: [MuonMatrix]) throws(DescentError) -> MuonScratch {
        let count = max(1, matrices.map(\.scratchElements).max() ?? 0)
        let productBytes = matrices.map(\.productScratchBytes).max() ?? 0
        let chunks = max(1, matrices.map { ($0.parameter.count + Optimizer.muonPiece - 1) / Optimizer.muonPiece }.max() ?? 0)
        if let kept, kept.capacity.elements >= count, kept.capacity.productBytes >= productBytes, kept.capacity.chunks >= chunks {
            return kept
        }
        return try MuonScratch(count: count, productBytes: productBytes, chunks: chunks)
    }

    private init(count: Int, productBytes: Int, chunks: Int) throws(DescentError) {
        memory = try ScratchMemory(bytes: [count * MemoryLayout<UInt16>.stride, productBytes,
                                           chunks * MemoryLayout<Double>.stride],
                                   for: "Muon's Newton–Schulz iteration")
        elements = memory.buffer(0, as: UInt16.self, count: count)
        products = memory.raw(1)
        partials = memory.buffer(2, as: Double.self, count: chunks)
        capacity = (count, productBytes, chunks)
    }
}

extension Optimizer {
    /// Elements per piece of a matrix's element-wise passes: fixed, so that the sum of
    /// squares adds the same pieces in the same order for any thread count.
    static var muonPiece: Int { 64 * 1024 }

    /// A Muon step (its description's `runPhase`): every parameter with a gradient must be
    /// a matrix; oneDNN, the products and the memory are taken before anything changes.
    func muonPhase(_ gradients: [UnsafeMutablePointer<Float>?], _ options: StepOptions) throws(DescentError) -> StepReport {
        var matrices: [MuonMatrix] = []
        let threads = Runtime.threadCount
        for (i, grad) in gradients.enumerated() {
            guard let grad else { continue }
            let parameter = parameters[i]
            guard parameter.shape.count == 2 else {
                throw DescentError(.invalidArgument, "\(algorithm.name) only supports 2D parameters whereas we found a parameter with size: \(parameter.shape) (parameter \(i); give its shape with descent_param_set_shape)")
            }
            matrices.append(try MuonMatrix(parameter, index: i, grad: grad, groups[parameter.group], threads: threads))
        }
        let scratch = try MuonScratch.reusing(muonScratch, for: matrices)
        muonScratch = scratch
        var failure: (index: Int, message: String)?
        let report = try phase(gradients, options) { gradients, transform, zero in
            var elements = 0
            for matrix in matrices where failure == nil {
                failure = muonUpdate(matrix, transform: transform, zero: zero, scratch: scratch).map { (matrix.index, $0) }
                elements += matrix.parameter.count
            }
            return elements
        }
        // Everything a product needs (the products, their memory) exists before the step
        // changes anything; what is left to fail is oneDNN's own run (its small objects).
        if let failure {
            throw DescentError(.outOfMemory, "oneDNN failed in a product of parameter \(failure.index)'s Muon step (\(failure.message)): the parameters before it were stepped; its momentum buffer and gradient were updated, its values not; the ones after it are untouched")
        }
        return report
    }

    /// torch's `_single_tensor_muon` for one matrix. Returns oneDNN's message if a product
    /// fails (the parameter is then left as it was; its momentum is updated).
    private func muonUpdate(_ matrix: MuonMatrix, transform: GradientTransform?, zero: Bool,
                            scratch: MuonScratch) -> String? {
        let kernels = Runtime.kernels.muon, count = matrix.parameter.count
        let pieces = (count + Self.muonPiece - 1) / Self.muonPiece
        let threads = ThreadPool.usefulThreads(for: count)
        let size = matrix.m * matrix.n
        var x = scratch.elements, other = scratch.elements + size
        let gram = other + size, square = gram + matrix.m * matrix.m
        let buffer = matrix.parameter.slots[0]!, partials = scratch.partials
        matrix.parameter.step += 1
        matrix.parameter.writtenSlots |= 1

        /// Calls `body` with each of `count` chunks, on the step's threads: those of
        /// oneDNN's OpenMP team when the step has products (on Descent's own they would
        /// share the cores with OpenMP workers still spinning after a product), else the
        /// pool's. Which thread takes a chunk changes no result.
        func forEachChunk(_ count: Int, _ body: (Int) -> Void) {
            guard matrix.products != nil else { return ThreadPool.shared.runChunks(count, threads: threads, body) }
            BFloat16Products.parallel(threads: threads) { thread, team in
                for chunk in stride(from: thread, to: count, by: team) { body(chunk) }
            }
        }

        /// Calls `body` with each piece's range.
        func forEachPiece(_ body: (Range<Int>) -> Void) {
            forEachChunk(pieces) { piece in
                let start = piece * Self.muonPiece
                body(start ..< min(count, start + Self.muonPiece))
            }
        }

        /// Copies `count` elements, in pieces over the step's threads.
        func copy(_ source: UnsafePointer<UInt16>, into target: UnsafeMutablePointer<UInt16>, count: Int) {
            forEachChunk((count + Self.muonPiece - 1) / Self.muonPiece) { piece in
                let start = piece * Self.muonPiece
                (target + start).update(from: source + start, count: min(Self.muonPiece, count - start))
            }
        }

        /// Writes the transpose of the `rows` × `columns` matrix `source` into `target`, in
        /// square blocks (so that both sides are read and written a cache line at a time).
        func transpose(_ source: UnsafePointer<UInt16>, rows: Int, columns: Int, into target: UnsafeMutablePointer<UInt16>) {
            let block = 64
            forEachChunk((rows + block - 1) / block) { rowBlock in
                let firstRow = rowBlock * block, lastRow = min(rows, firstRow + block)
                var firstColumn = 0
                while firstColumn < columns {
                    let lastColumn = min(columns, firstColumn + block)
                    for i in firstRow ..< lastRow {
                        for j in firstColumn ..< lastColumn { target[j * rows + i] = source[i * columns + j] }
                    }
                    firstColumn = lastColumn
                }
            }
        }

        // The momentum and the update in bfloat16 (in the parameter's layout), with Σ x².
        forEachPiece { range in
            let g = matrix.grad + range.lowerBound
            if let transform { Runtime.kernels.transform(g, range.count, transform) }
            partials[range.lowerBound / Self.muonPiece] = kernels.momentum(
                g, buffer + range.lowerBound, range.count, matrix.bufferWeight, matrix.nesterovWeight,
                matrix.nesterov, x + range.lowerBound)
            if zero { g.update(repeating: 0, count: range.count) }
        }
        // torch's ortho_grad.div_(ortho_grad.norm().clamp(min=eps)), each result bfloat16.
        var squares = 0.0
        for piece in 0 ..< pieces { squares += partials[piece] }
        let norm = float(bfloat16: bfloat16(Float(squares.squareRoot())))
        let divisor = float(bfloat16: bfloat16(norm < matrix.eps ? matrix.eps : norm))
        forEachPiece { range in kernels.divide(x + range.lowerBound, range.count, divisor) }
        if matrix.transposed {
            transpose(x, rows: matrix.n, columns: matrix.m, into: other)
            swap(&x, &other)
        }
        if let products = matrix.products {
            let threads = matrix.threads
            for _ in 0 ..< matrix.steps {
                // A = X·Xᵀ; B = c·A·A + b·A (B starts as A); X' = B·X + a·X (X' starts as X).
                let failure = BFloat16Products.run(products.gram, x, x, gram, scratch: scratch.products, threads: threads)
                    ?? { copy(gram, into: square, count: matrix.m * matrix.m); return nil }()
                    ?? BFloat16Products.run(products.square, gram, gram, square, scratch: scratch.products, threads: threads)
                    ?? { copy(x, into: other, count: size); return nil }()
                    ?? BFloat16Products.run(products.next, square, x, other, scratch: scratch.products, threads: threads)
                if let failure { return failure }
                swap(&x, &other)
            }
        }
        if matrix.transposed {
            transpose(x, rows: matrix.m, columns: matrix.n, into: other)
            swap(&x, &other)
        }
        // torch's param.mul_(1 - lr * weight_decay); param.add_(update, alpha=-adjusted_lr).
        let p = matrix.parameter.param, u = x
        forEachPiece { range in
            kernels.apply(p + range.lowerBound, u + range.lowerBound, range.count, matrix.decay, matrix.a)
        }
        return nil
    }
}
