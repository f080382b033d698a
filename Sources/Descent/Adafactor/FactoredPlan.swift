/// How Adafactor cuts one parameter into tiles. A factored parameter is `batches`
/// matrices of its last two dimensions, each cut into blocks of up to `rowsPerTile` rows
/// by `columnsPerTile` columns; a vector is one 1 × count matrix cut into pieces. The
/// cuts depend only on the shape, never on the thread count.
struct Tiling {
    /// Elements per tile.
    static let tileElements = 1 << 16
    /// Columns per tile of a matrix with longer rows: 16 rows of them fill a tile, so
    /// that the column sums kept per tile (one double per column) are at most 1/16 of
    /// the matrix's elements, while each row's piece stays 16 KB of contiguous memory
    /// (the hardware prefetchers follow a stream across pages; with 4 KB pieces a
    /// GPT-2 step took about 6% longer).
    static let tileColumns = 1 << 12

    let factored: Bool
    let batches: Int, rows: Int, columns: Int
    let rowsPerTile: Int, columnsPerTile: Int

    init(shape: [Int], count: Int) {
        factored = shape.count > 1
        columns = factored ? shape[shape.count - 1] : count
        rows = factored ? shape[shape.count - 2] : 1
        batches = count / (rows * columns)
        columnsPerTile = min(columns, factored ? Self.tileColumns : Self.tileElements)
        rowsPerTile = max(1, Self.tileElements / columnsPerTile)
    }

    var rowBlocks: Int { (rows + rowsPerTile - 1) / rowsPerTile }
    var columnBlocks: Int { (columns + columnsPerTile - 1) / columnsPerTile }
    var tileCount: Int { batches * rowBlocks * columnBlocks }
    /// Row sums: per batch, column block after column block, each all rows.
    var rowPartialCount: Int { factored ? batches * columnBlocks * rows : 0 }
    /// Column sums: per batch, row block after row block, each all columns.
    var columnPartialCount: Int { factored ? batches * rowBlocks * columns : 0 }
    var meanCount: Int { factored ? batches : 0 }
}

/// An Adafactor step's parameters cut into tiles, and where each tile's sums go. Every
/// sum over a parameter adds its tiles' sums in tile order: the same bits for any
/// thread count.
struct FactoredPlan {
    struct Entry {
        let parameter: Parameter
        let grad: UnsafeMutablePointer<Float>
        let scalars: AdafactorScalars
        let tiling: Tiling
        /// Its tiles in `tiles`, in element order.
        var tiles: Range<Int> = 0 ..< 0
        /// Where its sums start in the scratch's row partials, column partials and means.
        var rowPartials = 0, columnPartials = 0, means = 0
    }

    struct Tile {
        let entry: Int
        let batch: Int
        let firstRow: Int, rows: Int
        let firstColumn: Int, columns: Int
    }

    private(set) var entries: [Entry] = []
    private(set) var tiles: [Tile] = []
    private(set) var rowPartialCount = 0, columnPartialCount = 0, meanCount = 0
    private(set) var elementCount = 0

    /// Adds a parameter stepping with gradient `grad` and `scalars`.
    mutating func add(_ parameter: Parameter, grad: UnsafeMutablePointer<Float>, scalars: AdafactorScalars) {
        let tiling = Tiling(shape: parameter.shape, count: parameter.count)
        var entry = Entry(parameter: parameter, grad: grad, scalars: scalars, tiling: tiling)
        let first = tiles.count
        for batch in 0 ..< tiling.batches {
            for rowBlock in 0 ..< tiling.rowBlocks {
                let firstRow = rowBlock * tiling.rowsPerTile
                for columnBlock in 0 ..< tiling.columnBlocks {
                    let firstColumn = columnBlock * tiling.columnsPerTile
                    tiles.append(Tile(entry: entries.count, batch: batch,
                                      firstRow: firstRow, rows: min(tiling.rowsPerTile, tiling.rows - firstRow),
                                      firstColumn: firstColumn,
                                      columns: min(tiling.columnsPerTile, tiling.columns - firstColumn)))
                }
            }
        }
        entry.tiles = first ..< tiles.count
        entry.rowPartials = rowPartialCount
        entry.columnPartials = columnPartialCount
        entry.means = meanCount
        rowPartialCount += tiling.rowPartialCount
        columnPartialCount += tiling.columnPartialCount
        meanCount += tiling.meanCount
        elementCount += parameter.count
        entries.append(entry)
    }

    /// Where tile `tile`'s first element is in its parameter (its rows are
    /// `tiling.columns` apart).
    func offset(of tile: Tile) -> Int {
        let tiling = entries[tile.entry].tiling
        return (tile.batch * tiling.rows + tile.firstRow) * tiling.columns + tile.firstColumn
    }

    /// Where tile `tile`'s row sums go in the row partials.
    func rowPartial(of tile: Tile) -> Int {
        let entry = entries[tile.entry], tiling = entry.tiling
        return entry.rowPartials + (tile.batch * tiling.columnBlocks + tile.firstColumn / tiling.columnsPerTile) * tiling.rows
            + tile.firstRow
    }

    /// Where tile `tile`'s column sums go in the column partials.
    func columnPartial(of tile: Tile) -> Int {
        let entry = entries[tile.entry], tiling = entry.tiling
        return entry.columnPartials + (tile.batch * tiling.rowBlocks + tile.firstRow / tiling.rowsPerTile) * tiling.columns
            + tile.firstColumn
    }
}

/// The memory for an Adafactor step's sums, taken before the step changes anything (a
/// step that cannot have it fails with nothing changed), sized for a step of every
/// parameter, which bounds any step's.
final class FactoredScratch {
    let rowPartials: UnsafeMutablePointer<Double>
    let columnPartials: UnsafeMutablePointer<Double>
    let parameterSquares: UnsafeMutablePointer<Double>
    let updateSquares: UnsafeMutablePointer<Double>
    let means: UnsafeMutablePointer<Float>
    private let memory: ScratchMemory

    init(for parameters: [Parameter]) throws(DescentError) {
        var rows = 0, columns = 0, tiles = 0, means = 0
        for parameter in parameters {
            let tiling = Tiling(shape: parameter.shape, count: parameter.count)
            rows += tiling.rowPartialCount
            columns += tiling.columnPartialCount
            tiles += tiling.tileCount
            means += tiling.meanCount
        }
        let counts = [rows, columns, tiles, tiles, means]
        memory = try ScratchMemory(bytes: counts.map { $0 * MemoryLayout<Double>.stride }, for: "Adafactor's sums")
        rowPartials = memory.buffer(0, as: Double.self, count: counts[0])
        columnPartials = memory.buffer(1, as: Double.self, count: counts[1])
        parameterSquares = memory.buffer(2, as: Double.self, count: counts[2])
        updateSquares = memory.buffer(3, as: Double.self, count: counts[3])
        self.means = memory.buffer(4, as: Float.self, count: counts[4])
    }
}
