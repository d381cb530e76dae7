import Foundation
import Logging

/// A `transformers` `Qwen2Model`, fed with embeddings, with a reusable key/value cache (``DecoderState``).
/// Linear layers run in the ``ComputePrecision`` chosen at load (fp32 by default, or bf16); everything else is fp32.
///
/// Typical use (the Q-Anchor refresh):
/// ```swift
/// let preamble = try decoder.prefill(decoder.embed(preambleItems))            // once, shared by every user
/// let user = try decoder.prefill(decoder.embed(userItems), after: preamble)    // per user: preamble reused
/// let hidden = try decoder.runSuffixes(scenarioSuffixes, after: user)          // all scenarios, batched
/// ```
/// Every Linear runs as one matrix product over all positions of a call (all suffixes of a batch together); attention reads
/// the cached K/V in place. The state passed in is never modified.
///
/// Threading: calls are serialised by an internal lock (workspaces are reused between calls); the decoder may be
/// shared between tasks. States are immutable and may be used from any thread. OpenBLAS's thread count is
/// process-wide (``BLAS/setThreads(_:)``).
public final class Qwen2Decoder: @unchecked Sendable {
    /// The model's shape.
    public let configuration: Qwen2Configuration
    /// The arithmetic of the Linear layers (fixed at load).
    public let precision: ComputePrecision
    let weights: Qwen2Weights
    let rotary: RotaryTable
    let workspace = Qwen2Workspace()
    private let lock = NSLock()

    /// Loads `config.json` and `model.safetensors` from a Hugging Face model directory (a `Qwen2Model` or
    /// `Qwen2ForCausalLM` checkpoint), its Linear weights stored for `precision`. Throws ``ModelLoadError`` naming
    /// the file, key or tensor at fault, or ``ModelLoadError/unsupportedPrecision(_:reason:)`` (checked first).
    public convenience init(directory: URL, precision: ComputePrecision = .fp32,
                            logger: Logger = Logger(label: "qanchor.model")) throws {
        let (configuration, weights) = try Qwen2Weights.load("Qwen2 decoder", directory: directory, precision: precision, logger: logger)
        self.init(configuration: configuration, precision: precision, weights: weights)
    }

    /// A decoder with deterministic random weights of the given shape (benchmarks), stored for `precision`.
    /// Throws ``ModelLoadError/unsupportedPrecision(_:reason:)`` (never for fp32).
    public convenience init(randomWeights configuration: Qwen2Configuration, seed: UInt64 = 1,
                            precision: ComputePrecision = .fp32) throws {
        self.init(configuration: configuration, precision: precision,
                  weights: try Qwen2Weights.random(configuration, seed: seed, precision: precision))
    }

    init(configuration: Qwen2Configuration, precision: ComputePrecision, weights: Qwen2Weights) {
        self.configuration = configuration
        self.precision = precision
        self.weights = weights
        rotary = RotaryTable(theta: configuration.ropeTheta, headDim: configuration.headDim)
    }

    /// Bytes of weights held (fp32, or bf16-packed Linear matrices with fp32 embeddings and norms).
    public var weightBytes: Int { weights.byteCount }

    /// Bytes of workspace currently held (grows to the largest call seen).
    public var workspaceBytes: Int { lock.withLock { workspace.byteCount } }

    /// The empty state (no positions yet).
    public var emptyState: DecoderState { .empty(for: configuration) }

    /// Input rows for a mix of tokens (rows of the embedding table) and vectors.
    /// Throws ``ModelInputError`` for an id outside the vocabulary or a vector of the wrong width (its `sequence` is 0,
    /// `position` the item's index).
    public func embed(_ items: [DecoderInputItem]) throws -> DecoderInput {
        let d = configuration.hiddenSize, vocabulary = configuration.vocabularySize
        var values = [Float]()
        values.reserveCapacity(items.count * d)
        for (position, item) in items.enumerated() {
            switch item {
            case .token(let id):
                guard id >= 0, Int(id) < vocabulary else {
                    throw ModelInputError.tokenOutOfRange(sequence: 0, position: position, id: Int(id), vocabularySize: vocabulary)
                }
                weights.embedTokens.appendRow(Int(id), to: &values)
            case .vector(let v):
                guard v.count == d else {
                    throw ModelInputError.vectorWidth(sequence: 0, position: position, expected: d, found: v.count)
                }
                values.append(contentsOf: v)
            }
        }
        return try DecoderInput(width: d, values: values)
    }

    /// Extends `parent` (default: the empty state) by the positions of `input`, returning a new state; `parent` is
    /// unchanged and can be extended again (a shared preamble is computed once).
    public func prefill(_ input: DecoderInput, after parent: DecoderState? = nil) throws -> DecoderState {
        try prefill(input, after: parent, outputPositions: []).state
    }

    /// As ``prefill(_:after:)``, also returning the final-norm hidden states at `outputPositions` (within `input`).
    /// Rows in `hidden` are masked out of attention for every later position (a key-padding mask): they keep their
    /// positions but are left out of the computation and the cache, which is exactly equivalent because nothing
    /// can see them (causality hides later rows from them, the mask hides them from the rest). Their hidden states
    /// cannot be requested.
    public func prefill(_ input: DecoderInput, after parent: DecoderState?, outputPositions: [Int],
                        hiding hidden: Set<Int> = []) throws -> (state: DecoderState, hidden: [[Float]]) {
        let c = configuration, parent = parent ?? emptyState
        try parent.check(fits: c)
        try validate(input, sequence: 0, pastLength: parent.nextPosition, outputs: outputPositions)
        if let row = hidden.first(where: { $0 < 0 || $0 >= input.count }) {
            throw ModelInputError.outputPositionOutOfRange(sequence: 0, position: row, length: input.count)
        }
        if let row = outputPositions.first(where: hidden.contains) {
            throw ModelInputError.hiddenOutputPosition(sequence: 0, position: row)
        }
        let kept = (0..<input.count).filter { !hidden.contains($0) }
        let rows = kept.count, d = input.width
        var values = input.values
        if rows < input.count {
            values = []
            values.reserveCapacity(rows * d)
            for r in kept { values += input.values[r * d..<(r + 1) * d] }
        }
        let state = DecoderState(length: parent.length + rows, layers: c.layers, kvHeads: c.kvHeads, headDim: c.headDim,
                                 nextPosition: parent.nextPosition + input.count)
        let p = parent.length, kvW = c.kvWidth
        for l in 0..<c.layers {
            state.keys(l).update(from: parent.keys(l), count: p * kvW)
            state.values(l).update(from: parent.values(l), count: p * kvW)
        }
        if rows == 0 { return (state, []) }
        let compacted = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        // New K/V rows land in the new state right after the copied past; attention reads the past from there too.
        var plan = ForwardPlan(runs: [0..<rows], past: parent,
                               keysOut: { state.keys($0) + p * kvW }, valuesOut: { state.values($0) + p * kvW },
                               pastKeys: { UnsafePointer(state.keys($0)) }, pastValues: { UnsafePointer(state.values($0)) },
                               outputRows: outputPositions.map { compacted[$0]! })
        if rows < input.count { plan.positionOffsets = kept }
        let states = lock.withLock { run(values, rows: rows, plan: plan) }
        return (state, states)
    }

    /// Runs every suffix against `state` in one batched pass. Each suffix sees the cached positions and its own
    /// earlier positions only (never another suffix); `state` is not modified. Returns, per suffix, the final-norm
    /// hidden states at its `outputPositions`.
    public func runSuffixes(_ suffixes: [DecoderSuffix], after state: DecoderState) throws -> [[[Float]]] {
        let c = configuration
        try state.check(fits: c)
        var runs: [Range<Int>] = [], outputRows: [Int] = [], start = 0
        var packed = [Float]()
        for (s, suffix) in suffixes.enumerated() {
            try validate(suffix.input, sequence: s, pastLength: state.nextPosition, outputs: suffix.outputPositions)
            runs.append(start..<start + suffix.input.count)
            outputRows += suffix.outputPositions.map { start + $0 }
            packed += suffix.input.values
            start += suffix.input.count
        }
        if suffixes.isEmpty { return [] }
        let flat: [[Float]] = lock.withLock {
            let keys = workspace.keys.reserve(start * c.kvWidth), values = workspace.values.reserve(start * c.kvWidth)
            let plan = ForwardPlan(runs: runs, past: state, keysOut: { _ in keys }, valuesOut: { _ in values },
                                   pastKeys: { UnsafePointer(state.keys($0)) }, pastValues: { UnsafePointer(state.values($0)) },
                                   outputRows: outputRows)
            return run(packed, rows: start, plan: plan)
        }
        var result: [[[Float]]] = [], next = 0
        for suffix in suffixes {
            result.append(Array(flat[next..<next + suffix.outputPositions.count]))
            next += suffix.outputPositions.count
        }
        return result
    }

    /// Final-norm hidden states of one whole sequence (no cache kept) at `outputPositions`.
    public func hiddenStates(_ input: DecoderInput, outputPositions: [Int]) throws -> [[Float]] {
        try prefill(input, after: nil, outputPositions: outputPositions).hidden
    }

    private func run(_ values: [Float], rows: Int, plan: ForwardPlan) -> [[Float]] {
        let x = workspace.x.reserve(rows * configuration.hiddenSize)
        values.withUnsafeBufferPointer { x.update(from: $0.baseAddress!, count: values.count) }
        return forward(x, rows: rows, plan: plan)
    }

    private func validate(_ input: DecoderInput, sequence: Int, pastLength: Int, outputs: [Int]) throws {
        let c = configuration
        if input.count == 0 { throw ModelInputError.emptySequence(index: sequence) }
        guard input.width == c.hiddenSize else {
            throw ModelInputError.vectorWidth(sequence: sequence, position: 0, expected: c.hiddenSize, found: input.width)
        }
        guard pastLength + input.count <= c.maxPositions else {
            throw ModelInputError.sequenceTooLong(sequence: sequence, length: pastLength + input.count, maximum: c.maxPositions)
        }
        for p in outputs where p < 0 || p >= input.count {
            throw ModelInputError.outputPositionOutOfRange(sequence: sequence, position: p, length: input.count)
        }
    }
}
