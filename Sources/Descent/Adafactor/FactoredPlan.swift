/// How an Adafactor step cuts its parameters into tiles, and where each tile's sums go.
/// A factored parameter is `batches` matrices of its last two dimensions, each cut into
/// blocks of whole rows (or, for rows longer than a tile, pieces of one row); a vector
/// is cut into pieces. The cuts depend only on the shapes, never on the thread count,
/// and every sum over a parameter adds its tiles' sums in tile order: the same bits for
/// any thread count.
struct FactoredPlan {
    /// Elements per tile: large enough that a block's column sums (one double per
    /// column) stay a small share of the pass's memory traffic.
    static let tileElements = 1 << 16

    struct Entry {
        let parameter: Parameter
        let grad: UnsafeMutablePointer<Float>
        let scalars: AdafactorScalars
        let factored: Bool
        /// A vector is one 1 × count matrix.
        let batches: Int, rows: Int, columns: Int
        let rowsPerTile: Int, columnsPerTile: Int
        /// Its tiles in `tiles`, in element order.
        var tiles: Range<Int> = 0 ..< 0
        /// Where its rows' partial sums start in `rowPartials` (per batch, column block
        /// after column block, each all rows), its columns' in `columnPartials` (per
        /// batch, row block after row block), its row factors' means in `means`.
        var rowPartials = 0, columnPartials = 0, means = 0

        var rowBlocks: Int { (rows + rowsPerTile - 1) / rowsPerTile }
        var columnBlocks: Int { (columns + columnsPerTile - 1) / columnsPerTile }
    }

    struct Tile {
        let entry: Int
        let batch: Int
        let firstRow: Int, rows: Int
        let firstColumn: Int, columns: Int

        var count: Int { rows * columns }
    }

    private(set) var entries: [Entry] = []
    private(set) var tiles: [Tile] = []
    private(set) var rowPartialCount = 0, columnPartialCount = 0, meanCount = 0
    private(set) var elementCount = 0

    /// Adds a parameter stepping with gradient `grad` and `scalars`.
    mutating func add(_ parameter: Parameter, grad: UnsafeMutablePointer<Float>, scalars: AdafactorScalars) {
        let shape = parameter.shape
        let factored = parameter.isFactored
        let columns = factored ? shape[shape.count - 1] : parameter.count
        let rows = factored ? shape[shape.count - 2] : 1
        let columnsPerTile = min(columns, Self.tileElements)
        var entry = Entry(parameter: parameter, grad: grad, scalars: scalars, factored: factored,
                          batches: parameter.count / (rows * columns), rows: rows, columns: columns,
                          rowsPerTile: max(1, Self.tileElements / columnsPerTile), columnsPerTile: columnsPerTile)
        let first = tiles.count
        for batch in 0 ..< entry.batches {
            for rowBlock in 0 ..< entry.rowBlocks {
                let firstRow = rowBlock * entry.rowsPerTile
                for columnBlock in 0 ..< entry.columnBlocks {
                    let firstColumn = columnBlock * columnsPerTile
                    tiles.append(Tile(entry: entries.count, batch: batch,
                                      firstRow: firstRow, rows: min(entry.rowsPerTile, rows - firstRow),
                                      firstColumn: firstColumn, columns: min(columnsPerTile, columns - firstColumn)))
                }
            }
        }
        entry.tiles = first ..< tiles.count
        if factored {
            entry.rowPartials = rowPartialCount
            entry.columnPartials = columnPartialCount
            entry.means = meanCount
            rowPartialCount += entry.batches * entry.columnBlocks * rows
            columnPartialCount += entry.batches * entry.rowBlocks * columns
            meanCount += entry.batches
        }
        elementCount += parameter.count
        entries.append(entry)
    }

    /// Where tile `tile`'s elements start in its parameter.
    func offset(of tile: Tile) -> Int {
        let entry = entries[tile.entry]
        return (tile.batch * entry.rows + tile.firstRow) * entry.columns + tile.firstColumn
    }

    /// Where tile `tile`'s row sums go in `rowPartials`.
    func rowPartial(of tile: Tile) -> Int {
        let entry = entries[tile.entry]
        return entry.rowPartials + (tile.batch * entry.columnBlocks + tile.firstColumn / entry.columnsPerTile) * entry.rows
            + tile.firstRow
    }

    /// Where tile `tile`'s column sums go in `columnPartials`.
    func columnPartial(of tile: Tile) -> Int {
        let entry = entries[tile.entry]
        return entry.columnPartials + (tile.batch * entry.rowBlocks + tile.firstRow / entry.rowsPerTile) * entry.columns
            + tile.firstColumn
    }
}
