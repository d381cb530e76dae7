/// The key/value cache of a Qwen2 decoder after some positions: everything later positions need to attend to them.
///
/// Layout: for each layer, K `[length, kvWidth]` then V `[length, kvWidth]` (fp32, row = position, RoPE already
/// applied to K). A state is immutable once made: extending it (``Qwen2Decoder/prefill(_:after:)``) copies it into a new
/// state, and ``Qwen2Decoder/runSuffixes(_:after:)`` only reads it — so one state (e.g. a constant preamble) can be shared
/// by many sequences and many threads. Serialise it with ``serialized(precision:)``.
///
/// Threading: immutable, `Sendable`.
public final class DecoderState: @unchecked Sendable {
    /// Number of cached positions (K/V rows).
    public let length: Int
    /// The position the next input row gets: `length` plus the positions left out of the cache (rows hidden from
    /// attention keep their positions but have no K/V row, see ``Qwen2Decoder/prefill(_:after:outputPositions:hiding:)``).
    public let nextPosition: Int
    /// Number of layers.
    public let layers: Int
    /// Key/value heads per layer.
    public let kvHeads: Int
    /// Width of one head.
    public let headDim: Int
    let storage: FloatBuffer

    /// Width of one cached row (kvHeads × headDim).
    public var kvWidth: Int { kvHeads * headDim }

    /// Bytes held in memory (fp32).
    public var byteCount: Int { storage.count * 4 }

    init(length: Int, layers: Int, kvHeads: Int, headDim: Int, nextPosition: Int? = nil) {
        self.length = length
        self.nextPosition = nextPosition ?? length
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        storage = FloatBuffer(count: layers * 2 * length * kvHeads * headDim)
    }

    /// The empty state (no positions) for a model shape.
    static func empty(for c: Qwen2Configuration) -> DecoderState {
        DecoderState(length: 0, layers: c.layers, kvHeads: c.kvHeads, headDim: c.headDim)
    }

    /// K rows of `layer` (`[length, kvWidth]`).
    func keys(_ layer: Int) -> UnsafeMutablePointer<Float> { storage.base + layer * 2 * length * kvWidth }
    /// V rows of `layer` (`[length, kvWidth]`).
    func values(_ layer: Int) -> UnsafeMutablePointer<Float> { keys(layer) + length * kvWidth }

    /// Whether this state was made by a model of shape `c`.
    func check(fits c: Qwen2Configuration) throws {
        guard layers == c.layers, kvHeads == c.kvHeads, headDim == c.headDim else {
            throw ModelInputError.stateMismatch(detail: "state has \(layers) layers × \(kvHeads) KV heads × \(headDim), "
                + "model has \(c.layers) × \(c.kvHeads) × \(c.headDim)")
        }
    }
}
