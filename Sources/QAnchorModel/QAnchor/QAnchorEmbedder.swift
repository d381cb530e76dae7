import Foundation
import Synchronization

/// A loaded Q-Anchor model bundle: the Qwen2 backbone, the per-modality BERT encoders, the heads, the prefix layout
/// and the scenario suffixes — everything needed to turn user histories into scenario embeddings.
///
/// The API has three separable steps so a daemon can store, cache and batch between them:
/// 1. `eventVectors(modality:texts:)` — event texts → `h` (batched BERT; done once per event, at ingest);
/// 2. `prefix(for:)` — a user's history → hierarchical tokens → prefilled `UserPrefix` (its decoder state can be
///    kept or serialised);
/// 3. `embeddings(_:scenarios:)` — a prefix + scenario ids → one embedding per scenario (all suffixes in one batch).
/// Plus `embed(user:scenarios:)` (2 + 3) and `embedText(_:)` (the text tower).
///
/// Threading: all methods may be called from any thread; the backbone and each encoder serialise their own forward
/// passes. Loading validates every tensor and names the first problem (`QAnchorModelError`).
public final class QAnchorEmbedder: Sendable {
    public let manifest: BundleManifest
    public let bundleURL: URL
    /// `sha256:…` over the manifest and every weight and tokenizer file (see `BundleFingerprint`): names the model
    /// in every output record and guards every cache.
    public let fingerprint: String
    /// Width of the event vectors `h` (the encoders' hidden size).
    public let encoderWidth: Int
    /// Width of the backbone (d_model).
    public let modelWidth: Int

    let decoder: Qwen2Decoder
    let backboneTokenizer: Tokenizer
    /// Per distinct encoder directory: the encoder and its tokenizer.
    let encoders: [String: (encoder: BertEncoder, tokenizer: WordPieceTokenizer)]
    let heads: QAnchorHeads
    let userEncoder: UserEncoder
    let layout: PrefixLayout
    let suffixes: [String: ScenarioSuffix]
    private let preambleState = Mutex<DecoderState?>(nil)

    /// The Linear-layer arithmetic of the backbone and the encoders (chosen at load).
    public var precision: ComputePrecision { decoder.precision }

    /// Loads the bundle, the backbone and every encoder with their Linear layers in `precision` (default fp32; bf16
    /// needs AVX512_BF16 and otherwise fails as `.component` naming the backbone, before any weight is read).
    public init(bundle: URL, precision: ComputePrecision = .fp32) throws(QAnchorModelError) {
        let manifest: BundleManifest
        do { manifest = try BundleManifest.load(bundleDirectory: bundle) } catch { throw .manifest(error) }
        let backboneURL = bundle.appendingPathComponent(manifest.backbone)
        let tokenizerURL = backboneURL.appendingPathComponent("tokenizer.json")
        do { backboneTokenizer = try Tokenizer(contentsOf: tokenizerURL) } catch {
            throw .component(path: tokenizerURL.path, underlying: "\(error)")
        }
        do { try manifest.validate(backboneTokenizer: backboneTokenizer) } catch { throw .manifest(error) }
        do { decoder = try Qwen2Decoder(directory: backboneURL, precision: precision) } catch {
            throw .component(path: backboneURL.path, underlying: "\(error)")
        }
        let manifestPath = bundle.appendingPathComponent(BundleManifest.fileName).path
        var encoders: [String: (encoder: BertEncoder, tokenizer: WordPieceTokenizer)] = [:]
        var widths = Set<Int>()
        for m in manifest.modalities where m.kind == .text {
            guard let dir = m.encoder else {
                throw .bundle(file: manifestPath, problem: "text modality '\(m.name)' names no encoder directory")
            }
            if encoders[dir] != nil { continue }
            let url = bundle.appendingPathComponent(dir)
            let encoder: BertEncoder
            do { encoder = try BertEncoder(directory: url, precision: precision) } catch {
                throw .component(path: url.path, underlying: "\(error)")
            }
            let tokenizer: WordPieceTokenizer
            do { tokenizer = try WordPieceTokenizer(contentsOf: url.appendingPathComponent("tokenizer.json")) } catch {
                throw .component(path: url.appendingPathComponent("tokenizer.json").path, underlying: "\(error)")
            }
            encoders[dir] = (encoder, tokenizer)
            widths.insert(encoder.configuration.hiddenSize)
        }
        guard widths.count == 1, let e = widths.first else {
            throw .bundle(file: manifestPath, problem: widths.isEmpty ? "no text modality (an encoder width is needed)"
                          : "the encoders have different widths \(widths.sorted()); the shared adapters need one")
        }
        do { fingerprint = try BundleFingerprint(bundleDirectory: bundle, manifest: manifest).value } catch {
            throw .manifest(error)
        }
        self.manifest = manifest
        self.bundleURL = bundle
        self.encoders = encoders
        encoderWidth = e
        modelWidth = decoder.configuration.hiddenSize
        heads = try QAnchorHeads(bundle: bundle, manifest: manifest, encoderWidth: e, modelWidth: modelWidth)
        userEncoder = UserEncoder(manifest: manifest, heads: heads, encoderWidth: e, modelWidth: modelWidth)
        layout = try PrefixLayout(manifest: manifest, tokenizer: backboneTokenizer)
        guard let readout = backboneTokenizer.id(forToken: manifest.readoutToken) else {
            throw .bundle(file: manifestPath, problem: "readout token '\(manifest.readoutToken)' is not a token of the backbone tokenizer")
        }
        var suffixes: [String: ScenarioSuffix] = [:]
        for s in manifest.scenarios {
            let text = manifest.suffixTemplate.replacingOccurrences(of: "{query}", with: s.query)
            let soft = heads.softPrompts[s.id] ?? []
            suffixes[s.id] = ScenarioSuffix(scenario: s, queryTokens: backboneTokenizer.encode(text).map { Int32($0) },
                                            softPrompt: soft, readoutToken: Int32(readout),
                                            softPromptRows: soft.count / modelWidth)
        }
        self.suffixes = suffixes
    }

    /// Scenario ids in manifest order.
    public var scenarioIDs: [String] { manifest.scenarios.map(\.id) }

    /// Positions of every user's prefix (the same for all users).
    public var prefixLength: Int { layout.count }

    // MARK: 1. Event vectors

    /// The encoder input ids of one event text (WordPiece, [CLS] … [SEP], truncated to `max_text_tokens`).
    public func eventTokenIDs(modality: String, text: String) throws(QAnchorModelError) -> [Int] {
        let (m, pair) = try textModality(modality)
        return pair.tokenizer.encode(text, maxLength: m.maxTextTokens)
    }

    /// `h` for each text (the modality encoder's last-layer [CLS] vector), batched.
    public func eventVectors(modality: String, texts: [String]) throws(QAnchorModelError) -> [[Float]] {
        let (m, pair) = try textModality(modality)
        let ids = texts.map { pair.tokenizer.encode($0, maxLength: m.maxTextTokens).map { Int32($0) } }
        do { return try pair.encoder.encodeCLS(ids) } catch {
            throw .input("encoding \(texts.count) texts of '\(modality)': \(error)")
        }
    }

    private func textModality(_ name: String) throws(QAnchorModelError)
        -> (BundleModality, (encoder: BertEncoder, tokenizer: WordPieceTokenizer)) {
        guard let m = manifest.modalities.first(where: { $0.name == name }), m.kind == .text,
              let dir = m.encoder, let pair = encoders[dir] else {
            throw .input("'\(name)' is not a text modality of this bundle")
        }
        return (m, pair)
    }

    // MARK: 2. Prefix

    /// Builds the user's prefix and prefills it (the shared preamble's state is computed once and reused).
    public func prefix(for history: UserHistory) throws(QAnchorModelError) -> UserPrefix {
        let tokens = try userEncoder.encode(history)
        let items = layout.userPart(tokens, modelWidth: modelWidth)
        // `padding_visible: false`: the padding slots are masked out of attention (they keep their positions).
        let hidden = manifest.paddingVisible ? [] : layout.paddingRows(tokens)
        do {
            let parent = try preamble()
            let input = try decoder.embed(items)
            let state = try decoder.prefill(input, after: parent, outputPositions: [], hiding: hidden).state
            return UserPrefix(state: state, summaryTokens: tokens.summary)
        } catch let error as QAnchorModelError {
            throw error
        } catch {
            throw .input("prefill: \(error)")
        }
    }

    /// The decoder state of the constant preamble, computed on first use.
    private func preamble() throws -> DecoderState {
        if let state = preambleState.withLock({ $0 }) { return state }
        let state = try decoder.prefill(try decoder.embed(layout.preamble))
        preambleState.withLock { $0 = state }
        return state
    }

    // MARK: 3. Scenarios

    /// One embedding per scenario (manifest order when `scenarios` is nil), all suffixes in one batched pass on the
    /// prefix's cached state.
    public func embeddings(_ prefix: UserPrefix, scenarios: [String]? = nil) throws(QAnchorModelError) -> [ScenarioEmbedding] {
        let ids = scenarios ?? scenarioIDs
        var batch: [DecoderSuffix] = []
        for id in ids {
            guard let suffix = suffixes[id] else { throw .unknownScenario(id) }
            do {
                let input = try decoder.embed(suffix.items)
                batch.append(DecoderSuffix(input: input, outputPositions: [input.count - 1]))
            } catch { throw .input("suffix of '\(id)': \(error)") }
        }
        let hidden: [[[Float]]]
        do { hidden = try decoder.runSuffixes(batch, after: prefix.state) } catch { throw .input("suffixes: \(error)") }
        return zip(ids, hidden).map { id, h in readout(scenario: id, hidden: h[0]) }
    }

    /// The whole path for one user: prefix, then every requested scenario.
    public func embed(user history: UserHistory, scenarios: [String]? = nil) throws(QAnchorModelError) -> [ScenarioEmbedding] {
        try embeddings(try prefix(for: history), scenarios: scenarios)
    }

    private func readout(scenario id: String, hidden: [Float]) -> ScenarioEmbedding {
        let u = heads.projection(hidden)
        var scores: [LabelScore]?
        if let p = heads.prototypes[id], let s = suffixes[id]?.scenario, let labels = s.labels, let tau = s.tau {
            // scores = softmax(u · Pᵀ / τ)
            let k = labels.count, o = u.count
            var logits = [Double](repeating: 0, count: k)
            for j in 0..<k {
                var dot: Double = 0
                for i in 0..<o { dot += Double(u[i]) * Double(p.data[j * o + i]) }
                logits[j] = dot / tau
            }
            let top = logits.max() ?? 0
            let exps = logits.map { Foundation.exp($0 - top) }
            let total = exps.reduce(0, +)
            scores = zip(labels, exps).map { LabelScore(label: $0, score: Float($1 / total)) }
        }
        return ScenarioEmbedding(scenario: id, embedding: u, scores: scores, hidden: hidden)
    }

    // MARK: Text tower

    /// The semantic tower: text → backbone → last-token hidden → the same projection. Puts a free-text description
    /// in the users' space.
    public func embedText(_ text: String) throws(QAnchorModelError) -> (embedding: [Float], hidden: [Float]) {
        let tower = manifest.textTower
        let full = tower.template.replacingOccurrences(of: "{text}", with: text)
        let ids = Array(backboneTokenizer.encode(full).prefix(tower.maxTokens))
        guard !ids.isEmpty else { throw .input("the text gives no tokens") }
        do {
            let input = try decoder.embed(ids.map { .token(Int32($0)) })
            let hidden = try decoder.hiddenStates(input, outputPositions: [ids.count - 1])[0]
            return (heads.projection(hidden), hidden)
        } catch { throw .input("text tower: \(error)") }
    }
}

/// A user's prefilled prefix: the decoder state (KV cache) after the whole prefix, ready for scenario suffixes.
public struct UserPrefix: Sendable {
    public let state: DecoderState
    /// The summary tokens (user, then modalities), `(1 + M) × d_model` (diagnostics, tests).
    public let summaryTokens: [Float]
}
