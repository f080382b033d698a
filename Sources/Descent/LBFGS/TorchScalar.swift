/// A scalar as torch's L-BFGS code holds it: a Python float (double) or a 0-d float32
/// tensor. Its line search and step lengths mix the two, and torch's type promotion
/// decides each result: an operation with a float32 tensor rounds the Python number to
/// float32 and computes in float32; two Python numbers compute in double. Python's ints
/// there (0, 1, 10) are exact either way and are held as doubles.
enum TorchScalar: Equatable {
    case double(Double)
    case float(Float)

    var value: Double {
        switch self {
        case let .double(x): x
        case let .float(x): Double(x)
        }
    }

    /// As torch passes it to a float32 kernel (`alpha=`, `mul`).
    var float: Float {
        switch self {
        case let .double(x): Float(x)
        case let .float(x): x
        }
    }

    var isTensor: Bool {
        if case .float = self { return true }
        return false
    }

    private static func combine(_ a: TorchScalar, _ b: TorchScalar, _ double: (Double, Double) -> Double,
                                _ float: (Float, Float) -> Float) -> TorchScalar {
        a.isTensor || b.isTensor ? .float(float(a.float, b.float)) : .double(double(a.value, b.value))
    }

    static func + (a: TorchScalar, b: TorchScalar) -> TorchScalar { combine(a, b, +, +) }
    static func - (a: TorchScalar, b: TorchScalar) -> TorchScalar { combine(a, b, -, -) }
    static func * (a: TorchScalar, b: TorchScalar) -> TorchScalar { combine(a, b, *, *) }
    /// A Python number over a tensor is torch's `Tensor.__rtruediv__`: `b.reciprocal() * a`,
    /// two roundings (exact where a is 1).
    static func / (a: TorchScalar, b: TorchScalar) -> TorchScalar {
        if case let .double(x) = a, case let .float(y) = b { return .float((1 / y) * Float(x)) }
        return combine(a, b, /, /)
    }
    static prefix func - (a: TorchScalar) -> TorchScalar {
        switch a {
        case let .double(x): .double(-x)
        case let .float(x): .float(-x)
        }
    }

    /// Python's `abs`, torch's `abs()`.
    var magnitude: TorchScalar {
        switch self {
        case let .double(x): .double(Swift.abs(x))
        case let .float(x): .float(Swift.abs(x))
        }
    }

    var squareRoot: TorchScalar {
        switch self {
        case let .double(x): .double(x.squareRoot())
        case let .float(x): .float(x.squareRoot())
        }
    }

    /// Comparisons with a tensor compare in float32, as torch's do.
    private static func compare(_ a: TorchScalar, _ b: TorchScalar, _ double: (Double, Double) -> Bool,
                                _ float: (Float, Float) -> Bool) -> Bool {
        a.isTensor || b.isTensor ? float(a.float, b.float) : double(a.value, b.value)
    }

    static func < (a: TorchScalar, b: TorchScalar) -> Bool { compare(a, b, <, <) }
    static func <= (a: TorchScalar, b: TorchScalar) -> Bool { compare(a, b, <=, <=) }
    static func > (a: TorchScalar, b: TorchScalar) -> Bool { compare(a, b, >, >) }
    static func >= (a: TorchScalar, b: TorchScalar) -> Bool { compare(a, b, >=, >=) }
}

/// Python's `min(a, b)` and `max(a, b)`: the first argument unless the second is
/// strictly smaller (larger), whichever type it is.
func pythonMin(_ a: TorchScalar, _ b: TorchScalar) -> TorchScalar { b < a ? b : a }
func pythonMax(_ a: TorchScalar, _ b: TorchScalar) -> TorchScalar { b > a ? b : a }

extension TorchScalar: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    init(floatLiteral value: Double) { self = .double(value) }
    init(integerLiteral value: Int) { self = .double(Double(value)) }
}
