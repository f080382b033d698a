/// The optimizer algorithms, with torch.optim's class names. Raw values are the stable
/// ids of the C interface.
public enum Algorithm: Int32, CaseIterable, Sendable {
    case sgd = 1
    case adam = 2
    case adamW = 3
    case rmsprop = 4
    case adagrad = 5

    /// torch.optim's class name.
    public var name: String {
        switch self {
        case .sgd: "SGD"
        case .adam: "Adam"
        case .adamW: "AdamW"
        case .rmsprop: "RMSprop"
        case .adagrad: "Adagrad"
        }
    }

    /// The hyperparameters this algorithm has, in torch's constructor order.
    public var options: [Option] {
        switch self {
        case .sgd: [.lr, .momentum, .dampening, .weightDecay, .nesterov, .maximize]
        case .adam, .adamW: [.lr, .beta1, .beta2, .eps, .weightDecay, .amsgrad, .maximize]
        case .rmsprop: [.lr, .alpha, .eps, .weightDecay, .momentum, .centered, .maximize]
        case .adagrad: [.lr, .lrDecay, .weightDecay, .initialAccumulatorValue, .eps, .maximize]
        }
    }

    /// The update rule that implements the algorithm.
    var rule: any UpdateRule.Type {
        switch self {
        case .sgd: SGDRule.self
        case .adam, .adamW: AdamRule.self
        case .rmsprop: RMSpropRule.self
        case .adagrad: AdagradRule.self
        }
    }
}
