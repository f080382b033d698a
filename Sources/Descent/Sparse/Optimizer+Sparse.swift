#if canImport(Glibc)
import Glibc
#endif
import KernelInterface

/// Sparse gradients in the optimizer: set per parameter, and their part of a step.
extension Optimizer {
    /// Gives parameter `parameter`, seen as rows of `rowSize` elements, a sparse gradient
    /// in place of its gradient: `count` rows, their indices and their values (row after
    /// row), copied and coalesced (see `SparseRows`). Steps use it wherever they have no
    /// dense gradient for the parameter. Throws, changing nothing, where the algorithm
    /// takes no sparse gradient (torch's message), on a row size that does not divide the
    /// parameter, and on an index out of range.
    public func setSparseGradient(ofParameter parameter: Int, indices: UnsafePointer<Int64>?,
                                  values: UnsafePointer<Float>?, count: Int, rowSize: Int) throws(DescentError) {
        try checkParameter(parameter)
        if let refusal = algorithm.description.sparseRefusal { throw DescentError(.unsupported, refusal) }
        guard parameters[parameter].format == .float32 else {
            throw DescentError(.unsupported, "parameter \(parameter) is \(parameters[parameter].format.name); sparse gradients are float32, for float32 parameters")
        }
        let elements = parameters[parameter].count
        guard rowSize > 0, elements % rowSize == 0 else {
            throw DescentError(.invalidArgument, "sparse gradient of parameter \(parameter): row size \(rowSize) does not divide its \(elements) elements")
        }
        let target = parameters[parameter]
        // The storage the parameter's last sparse gradient used; a failed assign keeps it
        // as it was, so that gradient (if it is still set) is intact.
        let rows = target.sparseStorage ?? SparseRows()
        try rows.assign(indices: indices, values: values, count: count, rowSize: rowSize,
                        rowCount: elements / rowSize, parameter: parameter)
        target.sparseStorage = rows
        target.grad = nil
        target.sparseGrad = rows
    }

    /// Dense copies of `sparse` for an algorithm that steps them as dense gradients;
    /// throws, with nothing changed, when memory runs out.
    func densified(_ how: SparseGradients, _ sparse: [(index: Int, rows: SparseRows)]) throws(DescentError) -> [(index: Int, buffer: UnsafeMutablePointer<Float>)] {
        guard case let .asDense(refusing) = how else { return [] }
        for (i, _) in sparse { try sparseIncompatible(refusing, groups[parameters[i].group]) }
        var copies: [(index: Int, buffer: UnsafeMutablePointer<Float>)] = []
        for (i, rows) in sparse {
            let count = parameters[i].count
            guard let memory = malloc(count * MemoryLayout<Float>.stride) else {
                copies.forEach { free($0.buffer) }
                throw DescentError(.outOfMemory, "cannot allocate the dense gradient of parameter \(i) (\(count) elements)")
            }
            let buffer = memory.bindMemory(to: Float.self, capacity: count)
            rows.densify(into: buffer, count: count)
            copies.append((i, buffer))
        }
        return copies
    }

    func release(_ copies: [(index: Int, buffer: UnsafeMutablePointer<Float>)]) {
        copies.forEach { free($0.buffer) }
    }

    /// The sparse part of a step: each parameter's rows, after `transform` (unscale, clip)
    /// of their values, by the row rule's kernel on the step's threads (a span per run of
    /// consecutive rows); counts each parameter's step.
    func updateRows<Rule: SparseRowRule>(_ sparse: [(index: Int, rows: SparseRows)], rule: Rule.Type,
                                         transform: GradientTransform?) {
        let description = algorithm.description
        var plan = StepPlan<Rule.Scalars>()
        for (i, gradient) in sparse {
            let parameter = parameters[i], hp = groups[parameter.group]
            parameter.step += 1
            if let transform { Runtime.kernels.transform(gradient.values, gradient.elementCount, transform) }
            plan.addScalars(Rule.scalars(hp, step: parameter.step, algorithm: algorithm, state: parameter.slots))
            for run in gradient.runs {
                plan.add(parameter.rowsSpan(run.rows, rowSize: gradient.rowSize,
                                            values: gradient.values + run.firstValue * gradient.rowSize))
            }
            parameter.writtenSlots |= description.slotsNeeded(hp, factored: parameter.isFactored)
        }
        let kernel = Rule.kernel(in: Runtime.kernels)
        plan.run({ scalars, span in withUnsafePointer(to: scalars) { kernel($0, span) } }, threads: Runtime.threadCount)
    }
}
