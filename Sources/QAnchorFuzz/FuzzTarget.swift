import Foundation
import QAnchorDaemon
import QAnchorModel
@_spi(Fuzzing) import QAnchorStore

/// The seven fuzz targets (docs/reliability.md): every parser that reads bytes from outside the process — Kafka
/// records, bundle files, cached decoder states, the journal and the store.
///
/// `run` must return for every input: errors are expected and ignored; a trap, a sanitizer report, a hang or an
/// out-of-memory is a finding. Invariants that must hold for inputs that *are* accepted are `precondition`s.
enum FuzzTarget: String, CaseIterable, Sendable {
    case events
    case manifest
    case safetensors
    case tokenizer
    case decoderState = "decoder-state"
    case journal
    case records

    func run(_ bytes: [UInt8]) {
        switch self {
        case .events: Self.event(bytes)
        case .manifest: Self.manifest(bytes)
        case .safetensors: Self.safetensors(bytes)
        case .tokenizer: Self.tokenizer(bytes)
        case .decoderState: Self.decoderState(bytes)
        case .journal: StoreFuzzing.journal(bytes)
        case .records: StoreFuzzing.record(bytes)
        }
    }

    /// The wall clock of the events target (2026-10-03), inside the window of the committed test events.
    static let eventNowMs: Int64 = 1_791_000_000_000

    // MARK: Targets

    /// An input record. First byte: bit 0 text/tabular, bits 1–4 the tabular feature count, bit 7 a record key.
    private static func event(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let value = Array(bytes.dropFirst())
        let parser = EventParser(windowDays: 90, skewMs: 300_000, maxTextBytes: 4096, maxIDBytes: 200)
        let now = eventNowMs
        let kind: EventParser.Kind = selector & 1 == 0 ? .text : .tabular(featureCount: Int(selector >> 1) & 15)
        let key: [UInt8]? = selector & 0x80 != 0 ? Array("u1".utf8) : nil
        switch parser.parse(value: value, key: key, modality: 0, kind: kind, nowMs: now) {
        case .success(let event):
            precondition(!event.eventID.isEmpty && event.eventID.utf8.count <= parser.maxIDBytes, "accepted event id out of bounds")
            precondition(!event.userID.isEmpty && event.userID.utf8.count <= parser.maxIDBytes, "accepted user id out of bounds")
            precondition(key == nil || Array(event.userID.utf8) == key!, "accepted a key that differs from user_id")
            precondition(event.timestampMs >= now - parser.windowMs && event.timestampMs <= now + parser.skewMs,
                         "accepted ts outside the window")
            switch (event.payload, kind) {
            case (.text(let text), .text): precondition(text.utf8.count <= parser.maxTextBytes, "accepted an over-long text")
            case (.features(let features), .tabular(let count)):
                precondition(features.count == count && features.allSatisfy(\.isFinite), "accepted bad features")
            default: preconditionFailure("payload does not match the modality's kind")
            }
        case .failure(let rejection):
            precondition(!rejection.description.isEmpty, "a rejection without a reason")
        }
    }

    /// A bundle manifest (qanchor.json): parsed, then validated against a real tokenizer. An accepted manifest names
    /// only directories inside the bundle and survives encode → decode.
    private static func manifest(_ bytes: [UInt8]) {
        guard let manifest = try? BundleManifest(data: Data(bytes), file: "qanchor.json") else { return }
        if let encoded = try? JSONEncoder().encode(manifest) {
            let again = try? BundleManifest(data: encoded, file: "re-encoded")
            precondition(again != nil, "an accepted manifest does not parse after encoding")
        }
        guard (try? manifest.validate(backboneTokenizer: Fixtures.shared.bpe)) != nil else { return }
        var directories = [manifest.backbone]
        directories += manifest.modalities.compactMap(\.encoder)
        for directory in directories {
            guard let normalized = try? BundleManifest.normalizedDirectory(directory, field: "fuzz") else {
                preconditionFailure("a validated manifest names a directory it should have refused")
            }
            let parts = normalized.split(separator: "/", omittingEmptySubsequences: false)
            precondition(!normalized.hasPrefix("/") && !parts.contains("..") && !parts.contains(""),
                         "a validated manifest reaches outside its bundle")
        }
    }

    /// A safetensors file: opened (header validated against the file) and every tensor read.
    private static func safetensors(_ bytes: [UInt8]) {
        let url = Fixtures.scratchFile
        guard FileManager.default.createFile(atPath: url.path, contents: Data(bytes)) else {
            preconditionFailure("cannot write \(url.path)")
        }
        guard let file = try? SafeTensorsFile(url: url) else { return }
        for name in file.names {
            guard let info = file.tensors[name], let tensor = try? file.tensor(name) else { continue }
            precondition(tensor.shape == info.shape && tensor.storage.count == info.elementCount,
                         "tensor \(name) does not match its header")
        }
    }

    /// First byte 0: the rest is a tokenizer.json (loaded, then used on a fixed text). Otherwise: the rest is a text,
    /// tokenised by one of the test tokenizers (byte-level BPE, WordPiece uncased and cased); every id must name a
    /// token.
    private static func tokenizer(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let body = Data(bytes.dropFirst())
        if selector == 0 {
            guard let tokenizer = try? Tokenizer(data: body, source: "tokenizer.json") else { return }
            for id in tokenizer.encode("Hello, world! 你好 héllo 123 <|im_end|>") { _ = tokenizer.token(forID: id) }
            return
        }
        let fixtures = Fixtures.shared
        let tokenizer = [fixtures.bpe, fixtures.wordpiece, fixtures.wordpieceCased][Int(selector) % 3]
        for id in tokenizer.encode(String(decoding: body, as: UTF8.self)) {
            precondition(tokenizer.token(forID: id) != nil, "encode produced id \(id), which names no token")
        }
    }

    /// A serialised decoder state (the query cache's body). An accepted state serialises back to the same size.
    private static func decoderState(_ bytes: [UInt8]) {
        guard let state = try? DecoderState(serialized: Data(bytes)) else { return }
        let precision: DecoderStatePrecision = bytes[8] == 1 ? .fp16 : .fp32
        precondition(state.serialized(precision: precision).count == bytes.count, "a state does not serialise to its own size")
    }
}

/// What the targets read besides their input: the committed test tokenizers (`QANCHOR_FUZZ_TESTDATA`, default
/// `testdata` in the working directory) and a per-process scratch file.
final class Fixtures: Sendable {
    static let shared = Fixtures()
    static let scratchFile = FileManager.default.temporaryDirectory
        .appendingPathComponent("qanchor-fuzz-\(getpid()).safetensors")

    let bpe: Tokenizer
    let wordpiece: Tokenizer
    let wordpieceCased: Tokenizer

    private init() {
        let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["QANCHOR_FUZZ_TESTDATA"] ?? "testdata")
        func load(_ name: String) -> Tokenizer {
            let url = root.appendingPathComponent("tokenizers/\(name)/tokenizer.json")
            do { return try Tokenizer(contentsOf: url) } catch {
                FileHandle.standardError.write(Data("qanchor-fuzz: cannot load \(url.path): \(error)\n".utf8))
                exit(2)
            }
        }
        bpe = load("bpe")
        wordpiece = load("wordpiece")
        wordpieceCased = load("wordpiece-cased")
    }
}
