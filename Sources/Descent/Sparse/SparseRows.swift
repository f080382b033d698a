#if canImport(Glibc)
import Glibc
#endif

/// A row-sparse gradient (`nn.Embedding(sparse=True)`'s): some rows of a parameter seen
/// as rows of `rowSize` elements, the others zero. Kept coalesced, as torch coalesces
/// before every sparse update: rows sorted and unique, a row given several times summed
/// in the order given (torch's `coalesce()` on CPU). The engine owns the copy, so the
/// phase may rewrite it (unscale, clip) like a dense gradient. A parameter keeps its
/// storage from step to step: refilling it costs no allocation (a fresh 12 MB buffer per
/// step cost 1.2 ms of page faults).
final class SparseRows {
    private(set) var rowSize = 1
    /// Sorted, unique row indices.
    private(set) var rows: [Int] = []
    /// `rows.count × rowSize` values, row after row.
    private(set) var values: UnsafeMutablePointer<Float>
    /// Floats `values` has room for.
    private var capacity = 0

    init() {
        values = UnsafeMutablePointer(bitPattern: MemoryLayout<Float>.alignment)!  // no storage yet
    }

    deinit { if capacity > 0 { free(values) } }

    /// Replaces the contents with `count` rows (`indices`, and `values` row after row) of
    /// a parameter of `rowCount` rows, coalesced; throws, keeping the contents, on an
    /// index out of range, a bad buffer, or when memory runs out.
    func assign(indices: UnsafePointer<Int64>?, values source: UnsafePointer<Float>?, count: Int,
                rowSize: Int, rowCount: Int, parameter: Int) throws(DescentError) {
        let (elements, overflow) = count.multipliedReportingOverflow(by: rowSize)
        guard count >= 0, !overflow, elements <= Optimizer.maxCount else {
            throw DescentError(.invalidArgument, "sparse gradient of parameter \(parameter): \(count) rows of \(rowSize) elements is too large")
        }
        guard count == 0 || (indices != nil && source != nil) else {
            throw DescentError(.invalidArgument, "sparse gradient of parameter \(parameter): indices or values is NULL")
        }
        if count > 0 {
            guard UInt(bitPattern: indices!) % UInt(MemoryLayout<Int64>.alignment) == 0 else {
                throw DescentError(.invalidArgument, "sparse gradient of parameter \(parameter): indices is not aligned to 8 bytes")
            }
            try checkBuffer(source!, elements, name: "sparse gradient of parameter \(parameter): values")
        }
        var sorted = true
        for position in 0..<count {
            let row = indices![position]
            guard row >= 0, row < rowCount else {
                throw DescentError(.outOfRange, "sparse gradient of parameter \(parameter): row index \(row) is out of range (the parameter has \(rowCount) rows of \(rowSize))")
            }
            if position > 0, row <= indices![position - 1] { sorted = false }
        }
        // Positions in row order, a repeated row's in the order given (summed that way).
        let order = sorted ? Array(0..<count)
            : (0..<count).sorted { (indices![$0], $0) < (indices![$1], $1) }
        var unique: [Int] = []
        unique.reserveCapacity(count)
        for position in order where unique.last != Int(indices![position]) { unique.append(Int(indices![position])) }
        try reserve(unique.count * rowSize, parameter: parameter)
        rows = unique
        self.rowSize = rowSize
        var target = -1
        for (i, position) in order.enumerated() {
            let from = source! + position * rowSize
            if i == 0 || indices![order[i - 1]] != indices![position] {
                target += 1
                (values + target * rowSize).update(from: from, count: rowSize)
            } else {
                let to = values + target * rowSize
                for k in 0..<rowSize { to[k] += from[k] }
            }
        }
    }

    /// Room for `floats` values; the old values are not kept.
    private func reserve(_ floats: Int, parameter: Int) throws(DescentError) {
        guard floats > capacity else { return }
        guard let memory = malloc(floats * MemoryLayout<Float>.stride) else {
            throw DescentError(.outOfMemory, "cannot allocate the sparse gradient of parameter \(parameter) (\(floats) values)")
        }
        if capacity > 0 { free(values) }
        values = memory.bindMemory(to: Float.self, capacity: floats)
        capacity = floats
    }

    var elementCount: Int { rows.count * rowSize }

    /// The rows as runs of consecutive ones (contiguous in the parameter and in `values`):
    /// the rows of each run, and the index of its first in `rows`.
    var runs: [(rows: Range<Int>, firstValue: Int)] {
        var runs: [(rows: Range<Int>, firstValue: Int)] = []
        var first = 0
        for i in rows.indices where i + 1 == rows.count || rows[i + 1] != rows[i] + 1 {
            runs.append((rows[first] ..< rows[i] + 1, first))
            first = i + 1
        }
        return runs
    }

    /// No rows: torch's `zero_()` of a sparse gradient leaves it empty.
    func removeAll() { rows.removeAll(keepingCapacity: true) }

    /// Writes the dense gradient this is into `dense` (`rowCount × rowSize` elements).
    func densify(into dense: UnsafeMutablePointer<Float>, count: Int) {
        dense.update(repeating: 0, count: count)
        for (i, row) in rows.enumerated() {
            (dense + row * rowSize).update(from: values + i * rowSize, count: rowSize)
        }
    }
}
