/// How a kernel reads a parameter and its gradient and writes the parameter, as float32
/// whatever their format. Kernels are generic over it (and over `StateElements`), so that
/// a step over bfloat16 or float16 parameters, with or without a float32 master copy, is
/// the same one pass with the same arithmetic: every stream of the step in flight at once.
public protocol ParameterElements: SendableMetatype {
    associatedtype Gradients: GradientElements
    init(_ span: Span)
    subscript(i: Int) -> Float { get nonmutating set }
}

/// A parameter's gradient as a kernel reads it.
public protocol GradientElements {
    init(_ span: Span)
    subscript(i: Int) -> Float { get }
}

/// A 16-bit element format of parameters and gradients.
public protocol HalfFormat {
    static func widen(_ bits: UInt16) -> Float
    static func narrow(_ value: Float) -> UInt16
}

/// torch's bfloat16 (round to nearest even).
@frozen
public enum BFloat16Format: HalfFormat {
    @inlinable @inline(__always)
    public static func widen(_ bits: UInt16) -> Float { float(bfloat16: bits) }
    @inlinable @inline(__always)
    public static func narrow(_ value: Float) -> UInt16 { bfloat16(value) }
}

/// IEEE binary16 (round to nearest even).
@frozen
public enum Float16Format: HalfFormat {
    @inlinable @inline(__always)
    public static func widen(_ bits: UInt16) -> Float { float(float16: bits) }
    @inlinable @inline(__always)
    public static func narrow(_ value: Float) -> UInt16 { float16(value) }
}

/// float32 parameters and gradients: the elements themselves.
@frozen
public struct Float32Parameters: ParameterElements {
    @usableFromInline let base: UnsafeMutablePointer<Float>

    @inlinable @inline(__always)
    public init(_ span: Span) { base = span.param }

    @inlinable
    public subscript(i: Int) -> Float {
        @inline(__always) get { base[i] }
        @inline(__always) nonmutating set { base[i] = newValue }
    }

    @frozen
    public struct Gradients: GradientElements {
        @usableFromInline let base: UnsafePointer<Float>

        @inlinable @inline(__always)
        public init(_ span: Span) { base = span.grad }

        @inlinable
        public subscript(i: Int) -> Float { @inline(__always) get { base[i] } }
    }
}

/// 16-bit gradients (`span.grad` addresses them).
@frozen
public struct HalfGradients<Format: HalfFormat>: GradientElements {
    @usableFromInline let base: UnsafePointer<UInt16>

    @inlinable @inline(__always)
    public init(_ span: Span) { base = UnsafeRawPointer(span.grad).assumingMemoryBound(to: UInt16.self) }

    @inlinable
    public subscript(i: Int) -> Float { @inline(__always) get { Format.widen(base[i]) } }
}

/// 16-bit parameters without a master: widened on read, rounded on write.
@frozen
public struct HalfParameters<Format: HalfFormat>: ParameterElements {
    public typealias Gradients = HalfGradients<Format>
    @usableFromInline let base: UnsafeMutablePointer<UInt16>

    @inlinable @inline(__always)
    public init(_ span: Span) { base = UnsafeMutableRawPointer(span.param).assumingMemoryBound(to: UInt16.self) }

    @inlinable
    public subscript(i: Int) -> Float {
        @inline(__always) get { Format.widen(base[i]) }
        @inline(__always) nonmutating set { base[i] = Format.narrow(newValue) }
    }
}

/// 16-bit parameters with a float32 master copy (`span.param` addresses the master,
/// `span.masteredParam` the parameter): read from the master; a write updates the master
/// and rewrites the parameter, rounded.
@frozen
public struct MasteredParameters<Format: HalfFormat>: ParameterElements {
    public typealias Gradients = HalfGradients<Format>
    @usableFromInline let master: UnsafeMutablePointer<Float>
    @usableFromInline let low: UnsafeMutablePointer<UInt16>

    @inlinable @inline(__always)
    public init(_ span: Span) {
        master = span.param
        low = span.masteredParam!.assumingMemoryBound(to: UInt16.self)
    }

    @inlinable
    public subscript(i: Int) -> Float {
        @inline(__always) get { master[i] }
        @inline(__always) nonmutating set {
            master[i] = newValue
            low[i] = Format.narrow(newValue)
        }
    }
}
