/// How an algorithm takes sparse gradients (`SparseRows`), as its torch class does.
enum SparseGradients: Sendable {
    /// Refused, with torch's message (nil: "<name> does not support sparse gradients").
    case refused(message: String? = nil)
    /// As the dense gradient they are, zero outside their rows (SGD: torch's sparse
    /// momentum buffer reaches every row it ever had, as a dense one does). `refusing`
    /// must be 0 (torch cannot add SGD's weight decay to a sparse gradient).
    case asDense(refusing: Option)
    /// Only the rows present change, parameter and state (Adagrad's sparse path).
    case rows(any SparseRowRule.Type)
    /// Only sparse gradients, by rows; a dense one is refused with torch's message
    /// (SparseAdam).
    case onlyRows(any SparseRowRule.Type, denseRefused: String)

    /// The rule for the rows, where the algorithm updates by rows.
    var rowRule: (any SparseRowRule.Type)? {
        switch self {
        case .refused, .asDense: nil
        case let .rows(rule), let .onlyRows(rule, _): rule
        }
    }
}

/// torch's refusal of an option that a sparse step cannot take (Adagrad's words).
func sparseIncompatible(_ option: Option, _ hp: Hyperparameters) throws(DescentError) {
    guard hp[option] == 0 else {
        throw DescentError(.unsupported, "\(option.name) option is not compatible with sparse gradients")
    }
}

/// The rule for the rows of a sparse gradient: torch's sparse arithmetic, which is not its
/// dense one (Adagrad adds g² and steps by g/std; SparseAdam is Adam by differences). Its
/// kernel runs over spans of rows (see `Optimizer.updateRows`).
protocol SparseRowRule: UpdateRule, SendableMetatype {
    /// Refuses what torch refuses for a sparse gradient (Adagrad's weight decay), before
    /// anything changes.
    static func checkSparse(_ hp: Hyperparameters) throws(DescentError)
}

extension SparseRowRule {
    static func checkSparse(_ hp: Hyperparameters) throws(DescentError) {}
}
