import Foundation

/// The token-level plan of a bundle's sequences: the prefix as token ids and vector placeholders, each
/// scenario's suffix token ids, the readout token, and the text tower's tokenization.
///
/// Built from a validated manifest and the backbone tokenizer. Every `text` segment is tokenized on its own;
/// `summary` expands to the user token then one token per modality (manifest order); a modality block is its start
/// token, its slots, its end token. A suffix is the tokens of `suffix_template` with `{query}` replaced; the
/// soft-prompt rows and the readout token follow it (they are not ids of the template). Equal to
/// `prefix_plan` / `suffix_ids` of `ops/model/qanchor_reference.py`. Immutable: safe to share between threads.
public struct BundleSequencePlan: Sendable, Equatable {
    /// One prefix position.
    public enum Item: Sendable, Hashable {
        /// A row of the backbone's embedding table.
        case token(Int)
        /// Summary vector `index`: 0 is the user token, 1… the modality tokens in manifest order.
        case summary(Int)
        /// Slot `index` of a modality's block (an event token, padding, or a tabular slot).
        case slot(modality: String, index: Int)
    }

    /// The prefix, position by position; the same for every user and scenario.
    public let prefix: [Item]
    /// Token ids of each scenario's suffix text, by scenario id.
    public let suffixTokenIDs: [String: [Int]]
    /// The readout token's id, appended after the soft prompt.
    public let readoutTokenID: Int
    private let textTower: TextTowerTemplate
    private let tokenizer: Tokenizer

    /// Plans the sequences of `manifest` (validate it first); throws if a named token is unknown.
    public init(manifest: BundleManifest, backboneTokenizer: Tokenizer) throws(BundleError) {
        func id(_ token: String, _ field: String) throws(BundleError) -> Int {
            guard let id = backboneTokenizer.id(forToken: token) else {
                throw .invalidField(file: BundleManifest.fileName, field: field,
                                    expected: "a token of the backbone tokenizer", found: "'\(token)'")
            }
            return id
        }
        var items: [Item] = []
        for (i, segment) in manifest.layout.enumerated() {
            switch segment {
            case let .text(text):
                items += backboneTokenizer.encode(text).map(Item.token)
            case let .special(token):
                items.append(.token(try id(token, "layout[\(i)].token")))
            case .summary:
                items += (0...manifest.modalities.count).map(Item.summary)
            case let .modality(name):
                guard let (m, modality) = manifest.modalities.enumerated().first(where: { $0.element.name == name }) else {
                    throw .invalidField(file: BundleManifest.fileName, field: "layout[\(i)].modality",
                                        expected: "a modality of the manifest", found: "'\(name)'")
                }
                items.append(.token(try id(modality.startToken, "modalities[\(m)].start_token")))
                items += (0..<modality.slotCount).map { Item.slot(modality: name, index: $0) }
                items.append(.token(try id(modality.endToken, "modalities[\(m)].end_token")))
            }
        }
        prefix = items
        var suffixes: [String: [Int]] = [:]
        for scenario in manifest.scenarios {
            let text = manifest.suffixTemplate.replacingOccurrences(of: "{query}", with: scenario.query)
            suffixes[scenario.id] = backboneTokenizer.encode(text)
        }
        suffixTokenIDs = suffixes
        readoutTokenID = try id(manifest.readoutToken, "readout_token")
        textTower = manifest.textTower
        tokenizer = backboneTokenizer
    }

    /// The text tower's input ids: the template with `{text}` replaced, tokenized, the first `max_tokens` kept.
    /// Empty when the text gives no tokens (the caller reports that).
    public func textTowerTokenIDs(_ text: String) -> [Int] {
        Array(tokenizer.encode(textTower.template.replacingOccurrences(of: "{text}", with: text)).prefix(textTower.maxTokens))
    }

    public static func == (lhs: BundleSequencePlan, rhs: BundleSequencePlan) -> Bool {
        lhs.prefix == rhs.prefix && lhs.suffixTokenIDs == rhs.suffixTokenIDs && lhs.readoutTokenID == rhs.readoutTokenID
            && lhs.textTower == rhs.textTower
    }
}
