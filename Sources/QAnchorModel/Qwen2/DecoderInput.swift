/// One position of decoder input: a token (its row of the embedding table) or an arbitrary `hiddenSize` vector
/// (e.g. an adapter output or a soft-prompt vector).
public enum DecoderInputItem: Sendable, Equatable {
    case token(Int32)
    case vector([Float])
}

/// Input embeddings for a run of positions: `count` rows of `width` floats, row-major.
///
/// Build one with ``Qwen2Decoder/embed(_:)`` (tokens and vectors mixed) or directly from vectors.
/// Invariants: `values.count == count × width`, `width > 0`. Threading: a value type.
public struct DecoderInput: Sendable, Equatable {
    /// Row width (the model's hidden size).
    public let width: Int
    /// The rows, concatenated.
    public private(set) var values: [Float]

    /// Number of positions.
    public var count: Int { values.count / width }

    /// An empty input of the given width (a width below 1 is raised to 1; such an input is rejected by the decoder).
    public init(width: Int) {
        self.width = max(1, width)
        values = []
    }

    /// Rows given as a flat array; `values.count` must be a multiple of `width`.
    /// Throws ``ModelInputError/vectorWidth(sequence:position:expected:found:)`` otherwise.
    public init(width: Int, values: [Float]) throws {
        guard width > 0, values.count % width == 0 else {
            throw ModelInputError.vectorWidth(sequence: 0, position: values.count / max(width, 1), expected: width,
                                              found: values.count % max(width, 1))
        }
        self.width = width
        self.values = values
    }

    /// Appends another input's rows; throws ``ModelInputError/vectorWidth(sequence:position:expected:found:)`` when
    /// the widths differ.
    public mutating func append(contentsOf other: DecoderInput) throws {
        guard other.width == width else {
            throw ModelInputError.vectorWidth(sequence: 0, position: count, expected: width, found: other.width)
        }
        values.append(contentsOf: other.values)
    }

    /// Appends one row; throws if it does not have `width` values.
    public mutating func append(row: [Float]) throws {
        guard row.count == width else {
            throw ModelInputError.vectorWidth(sequence: 0, position: count, expected: width, found: row.count)
        }
        values.append(contentsOf: row)
    }
}

/// A suffix to run against a cached prefix: its input rows and the positions (0-based, within the suffix) whose
/// final-norm hidden states are wanted.
public struct DecoderSuffix: Sendable, Equatable {
    public var input: DecoderInput
    public var outputPositions: [Int]

    public init(input: DecoderInput, outputPositions: [Int]) {
        self.input = input
        self.outputPositions = outputPositions
    }

    /// A suffix whose hidden state is wanted at its last position only (the readout-token pattern).
    public init(input: DecoderInput) {
        self.init(input: input, outputPositions: input.count > 0 ? [input.count - 1] : [])
    }
}
