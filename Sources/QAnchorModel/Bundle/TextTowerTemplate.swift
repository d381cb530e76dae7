/// How the text tower reads free text (`text_tower` in `qanchor.json`): `template` with `{text}` replaced by the
/// text, tokenized by the backbone tokenizer, the first `max_tokens` tokens kept; the final-norm hidden state of
/// the last token goes through the projection (the authors' `last_pooling`). A value type.
public struct TextTowerTemplate: Codable, Sendable, Equatable {
    public var template: String
    public var maxTokens: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case template
        case maxTokens = "max_tokens"
    }

    public init(template: String, maxTokens: Int) {
        self.template = template
        self.maxTokens = maxTokens
    }
}
