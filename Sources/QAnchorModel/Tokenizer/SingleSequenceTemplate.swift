/// The special tokens a post-processor puts around one sequence: `[CLS] $A [SEP]` is prefix `[CLS]`,
/// suffix `[SEP]`. Read from `TemplateProcessing` (its `single` template) or `BertProcessing`; no
/// post-processor means no tokens. Immutable value.
struct SingleSequenceTemplate: Sendable, Equatable {
    var prefix: [Int]
    var suffix: [Int]

    /// Number of tokens the template adds.
    var addedCount: Int { prefix.count + suffix.count }

    init(prefix: [Int] = [], suffix: [Int] = []) {
        self.prefix = prefix
        self.suffix = suffix
    }

    /// Reads the `post_processor` of `root`.
    init(_ root: TokenizerJSON) throws(TokenizerError) {
        guard let post = try root.optionalObject("post_processor") else {
            self.init()
            return
        }
        let type = try post.string("type")
        switch type {
        case "TemplateProcessing":
            try self.init(template: post)
        case "BertProcessing":
            self.init(prefix: [try Self.pairID(post, "cls")], suffix: [try Self.pairID(post, "sep")])
        default:
            throw .unsupported(file: root.file, key: "post_processor.type",
                               found: "post-processor '\(type)' (supported: TemplateProcessing, BertProcessing or none)")
        }
    }

    /// `["[CLS]", 101]` → 101.
    private static func pairID(_ post: TokenizerJSON, _ key: String) throws(TokenizerError) -> Int {
        let pair = try post.array(key)
        guard pair.count == 2, pair[0].stringValue != nil, let id = TokenizerJSON.integer(pair[1]), id >= 0 else {
            throw post.mismatch(key, "[token, id]", .array(pair))
        }
        return id
    }

    private init(template post: TokenizerJSON) throws(TokenizerError) {
        let items = try post.array("single")
        let specials = try post.object("special_tokens")
        var prefix: [Int] = [], suffix: [Int] = []
        var seenSequence = false
        for (i, item) in items.enumerated() {
            let entry = try post.element(item, of: "single", at: i), key = entry.path
            if let special = try entry.optionalObject("SpecialToken") {
                let name = try special.string("id")
                let ids = try specials.object(name).array("ids")
                var converted: [Int] = []
                for value in ids {
                    guard let id = TokenizerJSON.integer(value), id >= 0 else {
                        throw .invalidValue(file: post.file, key: "post_processor.special_tokens.\(name).ids",
                                            expected: "non-negative integers", found: value.kindDescription)
                    }
                    converted.append(id)
                }
                if seenSequence { suffix += converted } else { prefix += converted }
            } else if let sequence = try entry.optionalObject("Sequence") {
                let id = try sequence.string("id")
                guard id == "A", !seenSequence else {
                    throw .unsupported(file: post.file, key: key, found: "sequence '\(id)' in a single-sequence template")
                }
                seenSequence = true
            } else {
                throw .invalidValue(file: post.file, key: key, expected: "SpecialToken or Sequence",
                                    found: "keys \(entry.object.keys.sorted())")
            }
        }
        guard seenSequence else {
            throw .invalidValue(file: post.file, key: "post_processor.single", expected: "a template with $A",
                                found: "no Sequence item")
        }
        self.init(prefix: prefix, suffix: suffix)
    }
}
