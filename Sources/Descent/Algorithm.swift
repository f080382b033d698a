/// The optimizer algorithms. Raw values are the stable ids of the C interface; what each
/// one is (torch name, hyperparameters, checks, state) is its `description`, declared
/// next to its update rule.
public enum Algorithm: Int32, CaseIterable, Sendable {
    case sgd = 1
    case adam = 2
    case adamW = 3
    case rmsprop = 4
    case adagrad = 5
    case adamax = 6
    case nadam = 7
    case radam = 8
    case adadelta = 9
    case asgd = 10
    case rprop = 11
    case sparseAdam = 12
    case lbfgs = 13
    case adafactor = 14
    case muon = 15

    public var description: AlgorithmDescription {
        switch self {
        case .sgd: .sgd
        case .adam: .adam
        case .adamW: .adamW
        case .rmsprop: .rmsprop
        case .adagrad: .adagrad
        case .adamax: .adamax
        case .nadam: .nadam
        case .radam: .radam
        case .adadelta: .adadelta
        case .asgd: .asgd
        case .rprop: .rprop
        case .sparseAdam: .sparseAdam
        case .lbfgs: .lbfgs
        case .adafactor: .adafactor
        case .muon: .muon
        }
    }

    /// torch.optim's class name.
    public var name: String { description.torchName }

    /// The hyperparameters this algorithm has, in torch's constructor order.
    public var options: [Option] { description.options }
}
