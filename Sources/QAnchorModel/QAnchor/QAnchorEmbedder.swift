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
    let readoutToken: Int32
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
        self.readoutToken = Int32(readout)
        var suffixes: [String: ScenarioSuffix] = [:]
        for s in manifest.scenarios {
            let soft = heads.softPrompts[s.id] ?? []
            var scoring: ScenarioSuffix.Scoring?
            if let p = heads.prototypes[s.id], let labels = s.labels, let tau = s.tau {
                scoring = ScenarioSuffix.Scoring(prototypes: Array(UnsafeBufferPointer(start: p.data, count: p.count)),
                                                  labels: labels, tau: tau)
            }
            suffixes[s.id] = ScenarioSuffix(id: s.id, queryTokens: Self.suffixTokens(s.query, manifest: manifest, tokenizer: backboneTokenizer),
                                            softPrompt: soft, softPromptRows: soft.count / modelWidth,
                                            readoutToken: Int32(readout), scoring: scoring)
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
        try embeddings(prefix, scenarios: scenarios, queries: [])
    }

    /// The bundle's `scenarios` (all when nil) then the ad-hoc `queries`, all in one batched suffix pass.
    public func embeddings(_ prefix: UserPrefix, scenarios: [String]?, queries: [ScenarioQuery]) throws(QAnchorModelError)
        -> [ScenarioEmbedding] {
        var batch: [ScenarioSuffix] = []
        for id in scenarios ?? scenarioIDs {
            guard let suffix = suffixes[id] else { throw .unknownScenario(id) }
            batch.append(suffix)
        }
        for query in queries { batch.append(try suffix(for: query)) }
        return try run(batch, after: prefix)
    }

    /// One embedding per ad-hoc query (docs/query.md), all in one batched suffix pass on the prefix's cached state.
    /// Throws `.unknownScenario` for a borrowed scenario the bundle lacks, `.input` for an empty query or prototypes
    /// of the wrong width, labels that do not match them, or a tau that is not positive.
    public func embeddings(_ prefix: UserPrefix, queries: [ScenarioQuery]) throws(QAnchorModelError) -> [ScenarioEmbedding] {
        try embeddings(prefix, scenarios: [], queries: queries)
    }

    /// Checks an ad-hoc query against the bundle (as ``embeddings(_:queries:)`` would) without running it.
    public func validate(_ query: ScenarioQuery) throws(QAnchorModelError) {
        _ = try suffix(for: query)
    }

    /// Backbone tokens of `query`'s suffix text (the template applied; soft prompt and readout token not counted):
    /// what a query-length limit counts.
    public func queryTokenCount(_ query: String) -> Int {
        Self.suffixTokens(query, manifest: manifest, tokenizer: backboneTokenizer).count
    }

    /// Width of the embeddings (the projection's output).
    public var outputWidth: Int { manifest.projection.output }

    /// The whole path for one user: prefix, then every requested scenario.
    public func embed(user history: UserHistory, scenarios: [String]? = nil) throws(QAnchorModelError) -> [ScenarioEmbedding] {
        try embeddings(try prefix(for: history), scenarios: scenarios)
    }

    private static func suffixTokens(_ query: String, manifest: BundleManifest, tokenizer: Tokenizer) -> [Int32] {
        tokenizer.encode(manifest.suffixTemplate.replacingOccurrences(of: "{query}", with: query)).map { Int32($0) }
    }

    private func suffix(for query: ScenarioQuery) throws(QAnchorModelError) -> ScenarioSuffix {
        guard !query.query.isEmpty else { throw .input("the query is empty") }
        var base: ScenarioSuffix?
        if let id = query.scenario {
            guard let known = suffixes[id] else { throw .unknownScenario(id) }
            base = known
        }
        var scoring = base?.scoring
        if let rows = query.prototypes {
            let o = outputWidth
            guard !rows.isEmpty else { throw .input("prototypes: at least one row is needed") }
            for (i, row) in rows.enumerated() where row.count != o || !row.allSatisfy(\.isFinite) {
                throw .input("prototypes[\(i)]: expected \(o) finite numbers (the embedding width), found \(row.count)")
            }
            let labels = query.labels ?? rows.indices.map { "p\($0)" }
            guard labels.count == rows.count, Set(labels).count == labels.count else {
                throw .input("labels: expected \(rows.count) distinct names (one per prototype), found \(labels.count)")
            }
            let tau = query.tau ?? 1
            guard tau > 0, tau.isFinite else { throw .input("tau must be a positive number, found \(tau)") }
            scoring = ScenarioSuffix.Scoring(prototypes: rows.flatMap { $0 }, labels: labels, tau: tau)
        } else if query.labels != nil {
            throw .input("labels are given without prototypes")
        } else if let tau = query.tau {
            guard let s = scoring else { throw .input("tau is given without prototypes") }
            guard tau > 0, tau.isFinite else { throw .input("tau must be a positive number, found \(tau)") }
            scoring = ScenarioSuffix.Scoring(prototypes: s.prototypes, labels: s.labels, tau: tau)
        }
        return ScenarioSuffix(id: query.resultID,
                              queryTokens: Self.suffixTokens(query.query, manifest: manifest, tokenizer: backboneTokenizer),
                              softPrompt: base?.softPrompt ?? [], softPromptRows: base?.softPromptRows ?? 0,
                              readoutToken: readoutToken, scoring: scoring)
    }

    /// Runs `suffixes` on the prefix's state in one batch and reads each out.
    private func run(_ suffixes: [ScenarioSuffix], after prefix: UserPrefix) throws(QAnchorModelError) -> [ScenarioEmbedding] {
        var batch: [DecoderSuffix] = []
        for suffix in suffixes {
            do {
                let input = try decoder.embed(suffix.items)
                batch.append(DecoderSuffix(input: input, outputPositions: [input.count - 1]))
            } catch { throw .input("suffix of '\(suffix.id)': \(error)") }
        }
        let hidden: [[[Float]]]
        do { hidden = try decoder.runSuffixes(batch, after: prefix.state) } catch { throw .input("suffixes: \(error)") }
        return zip(suffixes, hidden).map { suffix, h in readout(suffix, hidden: h[0]) }
    }

    private func readout(_ suffix: ScenarioSuffix, hidden: [Float]) -> ScenarioEmbedding {
        let u = heads.projection(hidden)
        var scores: [LabelScore]?
        if let s = suffix.scoring {
            // scores = softmax(u · Pᵀ / τ)
            let k = s.labels.count, o = u.count
            var logits = [Double](repeating: 0, count: k)
            for j in 0..<k {
                var dot: Double = 0
                for i in 0..<o { dot += Double(u[i]) * Double(s.prototypes[j * o + i]) }
                logits[j] = dot / s.tau
            }
            let top = logits.max() ?? 0
            let exps = logits.map { Foundation.exp($0 - top) }
            let total = exps.reduce(0, +)
            scores = zip(s.labels, exps).map { LabelScore(label: $0, score: Float($1 / total)) }
        }
        return ScenarioEmbedding(scenario: suffix.id, embedding: u, scores: scores, hidden: hidden)
    }

    // MARK: Text tower

    /// The semantic tower: text → backbone → last-token hidden → the same projection. Puts a free-text description
    /// in the users' space.
    public func embedText(_ text: String) throws(QAnchorModelError) -> (embedding: [Float], hidden: [Float]) {
        let (embedding, hidden) = try embedTexts([text])[0]
        return (embedding, hidden)
    }

    /// The text tower for many texts in one batched pass (each text its own sequence, as if alone). Throws `.input`
    /// naming the first text (0-based) that gives no tokens.
    public func embedTexts(_ texts: [String]) throws(QAnchorModelError) -> [(embedding: [Float], hidden: [Float])] {
        var batch: [DecoderSuffix] = []
        for (index, text) in texts.enumerated() {
            let ids = textTokens(text)
            guard !ids.isEmpty else { throw .input("text \(index) gives no tokens") }
            do {
                let input = try decoder.embed(ids.map { .token($0) })
                batch.append(DecoderSuffix(input: input, outputPositions: [ids.count - 1]))
            } catch { throw .input("text \(index): \(error)") }
        }
        let hidden: [[[Float]]]
        do { hidden = try decoder.runSuffixes(batch, after: decoder.emptyState) } catch { throw .input("text tower: \(error)") }
        return hidden.map { (heads.projection($0[0]), $0[0]) }
    }

    /// Backbone tokens of `text` with the tower's template applied: what the tower reads (cut at
    /// `text_tower.max_tokens`), or with `truncated: false` the whole text's count.
    public func textTokenCount(_ text: String, truncated: Bool = true) -> Int {
        truncated ? textTokens(text).count : backboneTokenizer.encode(textTowerInput(text)).count
    }

    private func textTowerInput(_ text: String) -> String {
        manifest.textTower.template.replacingOccurrences(of: "{text}", with: text)
    }

    private func textTokens(_ text: String) -> [Int32] {
        backboneTokenizer.encode(textTowerInput(text)).prefix(manifest.textTower.maxTokens).map { Int32($0) }
    }
}

/// A user's prefilled prefix: the decoder state (KV cache) after the whole prefix, ready for scenario suffixes.
///
/// A prefix restored from a cache (``init(state:)``) has no summary tokens.
public struct UserPrefix: Sendable {
    public let state: DecoderState
    /// The summary tokens (user, then modalities), `(1 + M) × d_model` (diagnostics, tests); empty when restored.
    public let summaryTokens: [Float]

    init(state: DecoderState, summaryTokens: [Float]) {
        self.state = state
        self.summaryTokens = summaryTokens
    }

    /// A prefix from a stored decoder state (e.g. ``DecoderState/init(serialized:)``).
    public init(state: DecoderState) {
        self.init(state: state, summaryTokens: [])
    }
}
