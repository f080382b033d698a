#if canImport(Glibc)
import Glibc
#endif
import KernelInterface

extension Optimizer {
    /// An Adafactor step (its description's `runPhase`): the phase, its sums' memory taken
    /// first.
    func adafactorPhase(_ gradients: [UnsafeMutablePointer<Float>?], _ options: StepOptions) throws(DescentError) -> StepReport {
        let scratch = try FactoredScratch(for: parameters)
        return try phase(gradients, options) { gradients, transform, zero in
            adafactorUpdate(gradients, transform: transform, zero: zero, scratch: scratch)
        }
    }

    /// An Adafactor step of every parameter with a gradient (its state already made),
    /// torch's `_single_tensor_adafactor` per parameter, in four passes over all of them
    /// together on the step's threads:
    /// 1. squares: ‖p‖² per tile, and per factored tile its rows' and columns' Σ g²
    ///    (a vector's tile updates its variance and takes Σ u² here already);
    /// 2. factors: the row and column factors of each matrix from their tiles' sums,
    ///    and the row factors' mean;
    /// 3. update norms: Σ u² per factored tile;
    /// 4. apply: p = fma(u, a, p·decay), u computed again from the factors (cheaper than
    ///    storing it), each gradient zeroed after its last read when asked.
    /// Returns the elements updated.
    private func adafactorUpdate(_ gradients: [UnsafeMutablePointer<Float>?], transform: GradientTransform?, zero: Bool,
                                 scratch: FactoredScratch) -> Int {
        var plan = FactoredPlan()
        for (parameter, grad) in zip(parameters, gradients) {
            guard let grad else { continue }
            parameter.step += 1
            parameter.writtenSlots |= algorithm.description.slotsNeeded(groups[parameter.group], factored: parameter.isFactored)
            plan.add(parameter, grad: grad, scalars: AdafactorScalars(groups[parameter.group], step: parameter.step))
        }
        guard !plan.tiles.isEmpty else { return 0 }
        let kernels = Runtime.kernels.factored
        let threads = ThreadPool.usefulThreads(for: plan.elementCount)
        let (rowPartials, columnPartials, means) = (scratch.rowPartials, scratch.columnPartials, scratch.means)
        let (parameterSquares, updateSquares) = (scratch.parameterSquares, scratch.updateSquares)

        /// Calls `body` with each row of tile `tile` of `g` (a vector's tile is one row).
        func forEachRow(_ tile: FactoredPlan.Tile, of g: UnsafeMutablePointer<Float>, _ body: (UnsafeMutablePointer<Float>) -> Void) {
            let stride = plan.entries[tile.entry].tiling.columns
            for r in 0 ..< tile.rows { body(g + r * stride) }
        }

        ThreadPool.shared.runChunks(plan.tiles.count, threads: threads) { t in
            let tile = plan.tiles[t], entry = plan.entries[tile.entry], offset = plan.offset(of: tile)
            let p = entry.parameter.param + offset, g = entry.grad + offset
            if let transform { forEachRow(tile, of: g) { Runtime.kernels.transform($0, tile.columns, transform) } }
            if entry.tiling.factored {
                parameterSquares[t] = kernels.squareSums(p, g, tile.rows, tile.columns, entry.tiling.columns,
                                                         rowPartials + plan.rowPartial(of: tile),
                                                         columnPartials + plan.columnPartial(of: tile))
            } else {
                (parameterSquares[t], updateSquares[t]) = kernels.vectorSums(
                    p, g, entry.parameter.slots[AdafactorSlot.variance]! + offset, tile.columns, entry.scalars.weight,
                    entry.scalars.floor)
            }
        }

        // Factors: per matrix, its rows (with their mean), then its columns.
        let matrices = plan.entries.indices.flatMap { e in
            plan.entries[e].tiling.factored ? (0 ..< plan.entries[e].tiling.batches * 2).map { (e, $0) } : []
        }
        ThreadPool.shared.runChunks(matrices.count, threads: threads) { item in
            let (e, job) = matrices[item]
            let entry = plan.entries[e], tiling = entry.tiling, batch = job / 2
            let (rows, columns, weight) = (tiling.rows, tiling.columns, entry.scalars.weight)
            if job % 2 == 0 {
                let factor = entry.parameter.slots[AdafactorSlot.rows]! + batch * rows
                kernels.finishFactor(rowPartials + entry.rowPartials + batch * tiling.columnBlocks * rows,
                                     tiling.columnBlocks, rows, rows, Float(columns), weight, factor)
                // torch's row_var.mean(dim=-2).clamp_(min=eps1): a float32 sum, divided.
                var sum = 0.0
                for i in 0 ..< rows { sum += Double(factor[i]) }
                let mean = Float(sum) / Float(rows), floor = entry.scalars.meanFloor
                means[entry.means + batch] = mean < floor ? floor : mean
            } else {
                kernels.finishFactor(columnPartials + entry.columnPartials + batch * tiling.rowBlocks * columns,
                                     tiling.rowBlocks, columns, columns, Float(rows), weight,
                                     entry.parameter.slots[AdafactorSlot.columns]! + batch * columns)
            }
        }

        ThreadPool.shared.runChunks(plan.tiles.count, threads: threads) { t in
            let tile = plan.tiles[t], entry = plan.entries[tile.entry], tiling = entry.tiling
            guard tiling.factored else { return }
            updateSquares[t] = kernels.factoredUpdateSquares(
                entry.grad + plan.offset(of: tile), tile.rows, tile.columns, tiling.columns,
                entry.parameter.slots[AdafactorSlot.rows]! + tile.batch * tiling.rows + tile.firstRow,
                entry.parameter.slots[AdafactorSlot.columns]! + tile.batch * tiling.columns + tile.firstColumn,
                means[entry.means + tile.batch], entry.scalars.floor)
        }

        // Per parameter, torch's alpha and denominator from the norms (Python floats of
        // float32 norms), then the step's multiplier of u.
        let multipliers = plan.entries.map { entry in
            let hp = groups[entry.parameter.group]
            let root = pow(Double(entry.parameter.count), 0.5)
            let parameterRMS = Double(Self.norm(parameterSquares, entry.tiles)) / root
            let alpha = (parameterRMS > hp[.eps2] ? parameterRMS : hp[.eps2]) * entry.scalars.rho
            let clipped = Double(Self.norm(updateSquares, entry.tiles)) / (root * hp[.clippingThreshold])
            let denominator = clipped > 1 ? clipped : 1
            let a = Float(-alpha / denominator)
            return hp.isSet(.maximize) ? -a : a
        }

        ThreadPool.shared.runChunks(plan.tiles.count, threads: threads) { t in
            let tile = plan.tiles[t], entry = plan.entries[tile.entry], tiling = entry.tiling
            let offset = plan.offset(of: tile)
            let p = entry.parameter.param + offset, g = entry.grad + offset
            let scalars = entry.scalars, a = multipliers[tile.entry]
            if tiling.factored {
                kernels.factoredApply(p, g, tile.rows, tile.columns, tiling.columns,
                                      entry.parameter.slots[AdafactorSlot.rows]! + tile.batch * tiling.rows + tile.firstRow,
                                      entry.parameter.slots[AdafactorSlot.columns]! + tile.batch * tiling.columns + tile.firstColumn,
                                      means[entry.means + tile.batch], scalars.floor, scalars.decay, a)
            } else {
                kernels.vectorApply(p, g, entry.parameter.slots[AdafactorSlot.variance]! + offset, tile.columns,
                                    scalars.floor, scalars.decay, a)
            }
            if zero { forEachRow(tile, of: g) { $0.update(repeating: 0, count: tile.columns) } }
        }
        return plan.elementCount
    }

    /// torch's `tensor.norm(2)` of a parameter from its tiles' sums of squares, added in
    /// tile order: the double root rounded to float32.
    private static func norm(_ squares: UnsafeMutablePointer<Double>, _ tiles: Range<Int>) -> Float {
        var sum = 0.0
        for t in tiles { sum += squares[t] }
        return Float(sum.squareRoot())
    }
}
