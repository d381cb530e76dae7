/// One segment of a bundle's prefix layout (`layout[i]` in `qanchor.json`), in sequence order.
///
/// JSON forms: `{"kind": "text", "text": "..."}` (tokenized on its own by the backbone tokenizer, added tokens
/// such as `<|im_start|>` matched inside it), `{"kind": "special", "token": "<|im_start|>"}` (one token by
/// name), `{"kind": "summary"}` (the user token, then one token per modality in manifest order) and
/// `{"kind": "modality", "modality": "bill"}` (start token, the modality's slots, end token).
public enum LayoutSegment: Codable, Sendable, Equatable {
    case text(String)
    case special(String)
    case summary
    case modality(String)

    enum CodingKeys: String, CodingKey, CaseIterable { case kind, text, token, modality }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(String.self, forKey: .kind)
        switch kind {
        case "text": self = .text(try c.decode(String.self, forKey: .text))
        case "special": self = .special(try c.decode(String.self, forKey: .token))
        case "summary": self = .summary
        case "modality": self = .modality(try c.decode(String.self, forKey: .modality))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: c,
                debugDescription: "expected one of text, special, summary, modality, found '\(kind)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .text(text):
            try c.encode("text", forKey: .kind)
            try c.encode(text, forKey: .text)
        case let .special(token):
            try c.encode("special", forKey: .kind)
            try c.encode(token, forKey: .token)
        case .summary:
            try c.encode("summary", forKey: .kind)
        case let .modality(name):
            try c.encode("modality", forKey: .kind)
            try c.encode(name, forKey: .modality)
        }
    }
}
