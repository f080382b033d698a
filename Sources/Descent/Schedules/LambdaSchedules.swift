/// A user function of (group index, epoch) giving a factor: torch's `lr_lambda`. One
/// function serves all groups; it can branch on the group (torch's list of lambdas).
public typealias LRLambda = (_ group: Int, _ epoch: Int64) throws(DescentError) -> Double

/// torch's LambdaLR: lr = base lr · lr_lambda(epoch).
public final class LambdaLR: Schedule {
    let lambda: LRLambda

    public init(_ optimizer: Optimizer, lrLambda: @escaping LRLambda) throws(DescentError) {
        lambda = lrLambda
        super.init(.lambdaLR, optimizer)
        try start()
    }

    override func computeLR() throws(DescentError) -> [Double] {
        var values: [Double] = []
        for (g, base) in baseLRs.enumerated() { values.append(base * (try lambda(g, lastEpoch))) }
        return values
    }
}

/// torch's MultiplicativeLR: lr = previous lr · lr_lambda(epoch), from the first step on.
public final class MultiplicativeLR: Schedule {
    let lambda: LRLambda

    public init(_ optimizer: Optimizer, lrLambda: @escaping LRLambda) throws(DescentError) {
        lambda = lrLambda
        super.init(.multiplicativeLR, optimizer)
        try start()
    }

    override func computeLR() throws(DescentError) -> [Double] {
        if isInitial { return lrs() }
        var values: [Double] = []
        for (g, lr) in lrs().enumerated() { values.append(lr * (try lambda(g, lastEpoch))) }
        return values
    }
}
