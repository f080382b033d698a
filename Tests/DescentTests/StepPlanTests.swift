import KernelInterface
import Synchronization
import Testing
@testable import Descent

/// The step planner: every element of every parameter is visited exactly once, in spans
/// that never cross a chunk, with cuts inside a parameter on 16-element boundaries and
/// each span carrying its parameter's scalars and the tail index of the whole parameter.
@Suite struct StepPlanTests {
    @Test(arguments: [1, 2, 3, 7])
    func everyElementOnceOnAnyThreadCount(threads: Int) {
        let chunk = StepPlan<Int>.chunkElements
        let sizes = [1, 17, 5, chunk - 3, 2 * chunk + 40, 16, 3, 5 * chunk + 1]
        let buffers = sizes.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
        defer { buffers.forEach { $0.deallocate() } }
        for (buffer, size) in zip(buffers, sizes) { buffer.initialize(repeating: 0, count: size) }

        var plan = StepPlan<Int>()
        for (i, (buffer, size)) in zip(buffers, sizes).enumerated() {
            plan.addScalars(i)
            plan.add(Span(param: buffer, grad: buffer, slots: (nil, nil, nil, nil),
                          start: 0, end: size, count: size, freshSlots: 0))
        }
        let badSpans = Atomic<Int>(0)
        plan.run({ scalars, span in
            let size = sizes[scalars]
            let aligned = span.start % 16 == 0 || span.start == 0
            let fits = span.end - span.start <= chunk && span.end <= size
            if span.param != buffers[scalars] || !aligned || !fits || span.tailStart != torchScalarTailStart(size) {
                badSpans.add(1, ordering: .relaxed)
            }
            for i in span.start ..< span.end { span.param[i] += 1 }
        }, threads: threads)

        #expect(badSpans.load(ordering: .relaxed) == 0)
        for (buffer, size) in zip(buffers, sizes) {
            #expect(UnsafeBufferPointer(start: buffer, count: size).allSatisfy { $0 == 1 })
        }
    }
}
