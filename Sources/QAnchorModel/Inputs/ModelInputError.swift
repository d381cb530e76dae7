/// Why an engine call rejected its input. Every case says which sequence / position / value is at fault.
public enum ModelInputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A sequence has no positions.
    case emptySequence(index: Int)
    /// A token id is outside the embedding table.
    case tokenOutOfRange(sequence: Int, position: Int, id: Int, vocabularySize: Int)
    /// A sequence (or prefix + suffix) is longer than the model's position table allows.
    case sequenceTooLong(sequence: Int, length: Int, maximum: Int)
    /// An input vector does not have the model's width.
    case vectorWidth(sequence: Int, position: Int, expected: Int, found: Int)
    /// A requested output position is outside its sequence.
    case outputPositionOutOfRange(sequence: Int, position: Int, length: Int)
    /// A decoder state was made by a model of another shape.
    case stateMismatch(detail: String)
    /// A hidden-state output was requested at a row hidden from attention (it is never computed).
    case hiddenOutputPosition(sequence: Int, position: Int)
    /// Serialised decoder state bytes are malformed.
    case badStateBytes(detail: String)

    public var description: String {
        switch self {
        case let .emptySequence(i): "sequence \(i) is empty"
        case let .tokenOutOfRange(s, p, id, v): "sequence \(s), position \(p): token id \(id) outside vocabulary [0, \(v))"
        case let .sequenceTooLong(s, n, m): "sequence \(s): length \(n) exceeds the maximum \(m)"
        case let .vectorWidth(s, p, e, f): "sequence \(s), position \(p): vector has \(f) values, expected \(e)"
        case let .outputPositionOutOfRange(s, p, n): "sequence \(s): output position \(p) outside [0, \(n))"
        case let .stateMismatch(detail): "decoder state does not fit this model: \(detail)"
        case let .hiddenOutputPosition(s, p): "sequence \(s): output position \(p) is hidden from attention"
        case let .badStateBytes(detail): "malformed decoder state bytes: \(detail)"
        }
    }
}
