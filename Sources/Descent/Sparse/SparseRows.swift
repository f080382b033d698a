#if canImport(Glibc)
import Glibc
#endif

/// A row-sparse gradient (`nn.Embedding(sparse=True)`'s): some rows of a parameter seen
/// as `rowCount` rows of `rowSize` elements, the others zero. Kept coalesced, as torch
/// coalesces before every sparse update: rows sorted and unique, a row given several
/// times summed in the order given (torch's `coalesce()` on CPU). The engine owns the
/// copy, so the phase may rewrite it (unscale, clip) like a dense gradient.
final class SparseRows {
    let rowSize: Int
    /// Sorted, unique row indices.
    private(set) var rows: [Int]
    /// `rows.count × rowSize` values, row after row.
    let values: UnsafeMutablePointer<Float>

    /// Coalesces `count` rows (`indices`, and `values` row after row) of a parameter of
    /// `rowCount` rows; throws, having kept nothing, on an index out of range or when
    /// memory runs out.
    init(indices: UnsafePointer<Int64>?, values source: UnsafePointer<Float>?, count: Int,
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
        var order: [(row: Int, position: Int)] = []
        order.reserveCapacity(count)
        for position in 0..<count {
            let row = indices![position]
            guard row >= 0, row < rowCount else {
                throw DescentError(.outOfRange, "sparse gradient of parameter \(parameter): row index \(row) is out of range (the parameter has \(rowCount) rows of \(rowSize))")
            }
            order.append((Int(row), position))
        }
        // Sorted by row, duplicates in the order given: summed in that order.
        order.sort { ($0.row, $0.position) < ($1.row, $1.position) }
        var unique: [Int] = []
        unique.reserveCapacity(count)
        for entry in order where unique.last != entry.row { unique.append(entry.row) }
        guard let memory = malloc(max(unique.count * rowSize, 1) * MemoryLayout<Float>.stride) else {
            throw DescentError(.outOfMemory, "cannot allocate the sparse gradient of parameter \(parameter) (\(unique.count) rows of \(rowSize))")
        }
        values = memory.bindMemory(to: Float.self, capacity: max(unique.count * rowSize, 1))
        rows = unique
        self.rowSize = rowSize
        var target = -1
        for (i, entry) in order.enumerated() {
            let from = source! + entry.position * rowSize
            if i == 0 || order[i - 1].row != entry.row {
                target += 1
                (values + target * rowSize).initialize(from: from, count: rowSize)
            } else {
                let to = values + target * rowSize
                for k in 0..<rowSize { to[k] += from[k] }
            }
        }
    }

    deinit { free(values) }

    var elementCount: Int { rows.count * rowSize }

    /// No rows: torch's `zero_()` of a sparse gradient leaves it empty.
    func removeAll() { rows.removeAll() }

    /// Writes the dense gradient this is into `dense` (`rowCount × rowSize` elements).
    func densify(into dense: UnsafeMutablePointer<Float>, count: Int) {
        dense.update(repeating: 0, count: count)
        for (i, row) in rows.enumerated() {
            (dense + row * rowSize).update(from: values + i * rowSize, count: rowSize)
        }
    }
}
