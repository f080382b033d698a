/// An error the engine reports to its caller. The kind tells the caller what went wrong
/// in a way it can branch on; the message says it to a person, in torch's words where
/// torch has some.
public struct DescentError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case invalidArgument
        case invalidHyperparameter
        case unknownAlgorithm
        case unknownOption
        case outOfRange
        case duplicateParameter
        case overlap
        case outOfMemory
        /// A caller-supplied callback (an lr_lambda) reported failure.
        case callbackFailed
        /// The call does not fit the object's current state (a OneCycleLR stepped past
        /// total_steps, a ReduceLROnPlateau stepped without a metric …).
        case invalidState
        /// The CPU lacks what the request needs (an instruction set).
        case unsupported
        /// A gradient or its norm is inf or NaN where the caller asked for an error.
        case nonfinite
        /// Bytes that are not a valid checkpoint: bad magic, unknown version, a failed
        /// checksum, a truncated or inconsistent section.
        case corruptCheckpoint
        /// A valid checkpoint of a different optimizer: another algorithm, other group
        /// count, parameter sizes or schedules.
        case mismatch
        /// The operating system refused a file operation.
        case io
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Formats a Double the way Python's `repr(float)` does, so that validation messages read
/// exactly like torch's (`Invalid learning rate: -1.0`, `Invalid epsilon value: 1e-08`).
func pythonRepr(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    // Swift prints the shortest round-tripping digits, like Python; both switch to
    // exponent form below 1e-4 and at or above 1e16 and write a two-digit exponent.
    return value.description
}
