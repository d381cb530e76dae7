import Foundation

/// A parsed `tokenizer.json` (Hugging Face `tokenizers` serialization), with the parts every model shares.
/// Used only while loading.
struct TokenizerFile {
    let root: TokenizerJSON

    /// The file name or label used in error messages.
    var file: String { root.file }

    /// Reads and parses the file at `url`.
    static func read(_ url: URL) throws(TokenizerError) -> TokenizerFile {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: [.mappedIfSafe])
        } catch {
            throw .unreadable(file: url.path, reason: Self.reason(error))
        }
        return try parse(data, source: url.path)
    }

    /// Parses `data`; `source` names it in errors.
    static func parse(_ data: Data, source: String) throws(TokenizerError) -> TokenizerFile {
        TokenizerFile(root: try TokenizerJSON.parse(data, file: source))
    }

    private static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain && ns.code == NSFileReadNoSuchFileError { return "no such file" }
        return ns.localizedDescription
    }

    /// `model.type`, e.g. "BPE" or "WordPiece".
    func modelType() throws(TokenizerError) -> String {
        try root.object("model").string("type")
    }

    /// The `added_tokens` list (absent or null means none).
    func addedTokens() throws(TokenizerError) -> [AddedToken] {
        if root.isNull("added_tokens") { return [] }
        let list = try root.array("added_tokens")
        var tokens: [AddedToken] = []
        for (i, element) in list.enumerated() {
            let entry = try root.element(element, of: "added_tokens", at: i)
            let id = try entry.int("id")
            guard id >= 0 else { throw entry.mismatch("id", "a non-negative integer", .integer(Int64(id))) }
            let content = try entry.string("content")
            guard !content.isEmpty else { throw entry.mismatch("content", "a non-empty string", .string(content)) }
            let special = try entry.optionalBool("special", default: false) ?? false
            tokens.append(AddedToken(
                content: content, id: id, special: special,
                singleWord: try entry.optionalBool("single_word", default: false) ?? false,
                lstrip: try entry.optionalBool("lstrip", default: false) ?? false,
                rstrip: try entry.optionalBool("rstrip", default: false) ?? false,
                normalized: try entry.optionalBool("normalized", default: !special) ?? !special))
        }
        return tokens
    }

    /// `model.vocab` as token → id, validated (ids non-negative integers).
    func vocabulary() throws(TokenizerError) -> [String: Int] {
        let model = try root.object("model")
        let vocab = try model.object("vocab")
        var out: [String: Int] = [:]
        out.reserveCapacity(vocab.object.count)
        for (token, value) in vocab.object {
            guard let id = TokenizerJSON.integer(value), id >= 0 else {
                throw .invalidValue(file: file, key: "model.vocab[\"\(token)\"]", expected: "a non-negative integer id",
                                    found: value.kindDescription)
            }
            out[token] = id
        }
        if out.isEmpty {
            throw .invalidValue(file: file, key: "model.vocab", expected: "a non-empty vocabulary", found: "an empty object")
        }
        // Token tables are arrays indexed by id: refuse ids so sparse that they would need absurd memory.
        let limit = 4 * out.count + 65_536
        if let (token, id) = out.first(where: { $0.value >= limit }) {
            throw .invalidValue(file: file, key: "model.vocab[\"\(token)\"]",
                                expected: "an id below \(limit) (the vocabulary has \(out.count) tokens)", found: "\(id)")
        }
        return out
    }

    /// A one-line description of a component object for error messages, e.g. "pre_tokenizer 'Whitespace'".
    static func componentName(_ object: TokenizerJSON) -> String {
        object.object["type"]?.stringValue.map { "'\($0)'" } ?? "(no type)"
    }
}
