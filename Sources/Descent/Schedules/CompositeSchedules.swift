/// What SequentialLR and ChainedScheduler share: child schedules on the same optimizer,
/// owned by the composite from its creation on (they can no longer be stepped alone).
public class CompositeSchedule: Schedule {
    let children: [Schedule]

    init(_ kind: ScheduleKind, _ optimizer: Optimizer, _ children: [Schedule]) throws(DescentError) {
        self.children = children
        super.init(kind, optimizer)
        for (i, child) in children.enumerated() {
            guard child.optimizer === optimizer else {
                throw DescentError(.invalidArgument, "\(kind.name) expects all schedulers to belong to the same optimizer, but got scheduler \(child.kind.name) at index \(i) that belongs to another optimizer")
            }
            if let owner = child.owner {
                throw DescentError(.invalidArgument, "\(kind.name): the scheduler \(child.kind.name) at index \(i) already belongs to a \(owner.kind.name)")
            }
            if children[..<i].contains(where: { $0 === child }) {
                throw DescentError(.invalidArgument, "\(kind.name): the scheduler \(child.kind.name) at index \(i) is given twice")
            }
        }
    }

    /// Marks the children as owned; called once the composite has started.
    func adoptChildren() {
        for child in children { child.owner = self }
    }

    /// Lets the children go (the composite is being freed).
    public func releaseChildren() {
        for child in children { child.owner = nil }
    }

    public override var needsMetric: Bool { children.contains { $0.needsMetric } }

    override var treeDescription: String {
        kind.name + "(" + children.map(\.treeDescription).joined(separator: ", ") + ")"
    }

    override func undoEpoch() {
        for child in children { child.undoEpoch() }
    }

    override func writeLastLRs() throws(DescentError) {
        for child in children { try child.writeLastLRs() }
        try super.writeLastLRs()
    }

    override func validateTree() throws(DescentError) {
        try super.validateTree()
        for child in children { try child.validateTree() }
    }

    override func codeTree(_ coder: inout StateCoder) throws(DescentError) {
        try super.codeTree(&coder)
        var count = Int64(children.count)
        try coder.code(&count)
        guard count == children.count else {
            throw DescentError(.invalidArgument, "schedule state has \(count) child schedules, this \(kind.name) has \(children.count)")
        }
        for child in children { try child.codeTree(&coder) }
    }
}

/// torch's SequentialLR: runs `children[i]` from `milestones[i-1]` on. Unlike torch it
/// also takes ReduceLROnPlateau children (see there); step it with a metric then.
public final class SequentialLR: CompositeSchedule {
    var milestones: [Int64]

    public init(_ optimizer: Optimizer, schedules: [Schedule], milestones: [Int64]) throws(DescentError) {
        guard !schedules.isEmpty else {
            throw DescentError(.invalidHyperparameter, "SequentialLR expects at least one scheduler, but got no scheduler.")
        }
        self.milestones = milestones
        try super.init(.sequentialLR, optimizer, schedules)
        guard milestones.count == schedules.count - 1 else {
            throw DescentError(.invalidHyperparameter, "Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers \(schedules.count) and the number of milestones to be equal to \(milestones.count)")
        }
        try validate()
        try start()
    }

    override func validate() throws(DescentError) {
        guard zip(milestones, milestones.dropFirst()).allSatisfy({ $0 < $1 }),
              (milestones.first ?? 1) >= 1 else {
            throw DescentError(.invalidHyperparameter, "Expected positive milestones in strictly increasing order, but got \(milestones)")
        }
        guard milestones.count == children.count - 1 else {
            throw DescentError(.invalidArgument, "schedule state has \(milestones.count) milestones for \(children.count) schedulers")
        }
    }

    /// torch's constructor: back to the initial lrs, every child one epoch back, then the
    /// first active child's initial step.
    override func start() throws(DescentError) {
        try atomically(children) { () throws(DescentError) in
            lastEpoch = 0
            baseLRs = (0..<groupCount).map { optimizer.initialLRs[$0] ?? optimizer.groups[$0][.lr] }
            try setLRs(baseLRs)
            undoEpoch()
            let active = children[activeIndex(at: 0)]
            try active.initialStep()
            lastLR = active.lastLR
        }
        adoptChildren()
    }

    private func activeIndex(at epoch: Int64) -> Int {
        milestones.count { $0 <= epoch }
    }

    override func initialStep() throws(DescentError) {
        lastEpoch = 0
        let active = children[activeIndex(at: 0)]
        try active.initialStep()
        lastLR = active.lastLR
    }

    override func advance(metric: Double?) throws(DescentError) {
        lastEpoch += 1
        let index = activeIndex(at: lastEpoch)
        let active = children[index]
        if index > 0 && milestones[index - 1] == lastEpoch {
            try active.updateLR(epoch: 0)
        } else {
            try active.advance(metric: metric)
        }
        lastLR = active.lastLR
    }

    /// Restarting a SequentialLR nested in another one starts its first phase again.
    override func updateLR(epoch: Int64?) throws(DescentError) {
        lastEpoch = epoch ?? lastEpoch + 1
        let active = children[activeIndex(at: lastEpoch)]
        try active.updateLR(epoch: 0)
        lastLR = active.lastLR
    }

    override func code(_ coder: inout StateCoder) throws(DescentError) {
        try super.code(&coder)
        try coder.code(&milestones)
    }
}

/// torch's ChainedScheduler: every step steps each child in order, each acting on the lr
/// the previous one left. Unlike torch it also takes ReduceLROnPlateau children.
public final class ChainedScheduler: CompositeSchedule {
    public init(_ optimizer: Optimizer, schedules: [Schedule]) throws(DescentError) {
        guard !schedules.isEmpty else {
            throw DescentError(.invalidHyperparameter, "ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.")
        }
        try super.init(.chainedScheduler, optimizer, schedules)
        try start()
    }

    /// torch's constructor takes no step.
    override func start() throws(DescentError) {
        lastEpoch = 0
        baseLRs = lrs()
        lastLR = baseLRs
        adoptChildren()
    }

    override func initialStep() throws(DescentError) {
        lastEpoch = 0
        for child in children { try child.initialStep() }
        lastLR = lrs()
    }

    override func advance(metric: Double?) throws(DescentError) {
        lastEpoch += 1
        for child in children { try child.advance(metric: metric) }
        lastLR = lrs()
    }

    override func updateLR(epoch: Int64?) throws(DescentError) {
        lastEpoch = epoch ?? lastEpoch + 1
        for child in children { try child.updateLR(epoch: epoch) }
        lastLR = lrs()
    }
}
