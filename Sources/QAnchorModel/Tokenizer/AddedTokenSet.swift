/// The added tokens of a `tokenizer.json` and the two-stage search the `tokenizers` library runs for them before the
/// model sees any text: tokens with `normalized: false` are found in the raw text; the text between them is
/// normalized and searched for the tokens with `normalized: true`; what remains goes to the model.
///
/// Shared by ``BPETokenizer`` and ``WordPieceTokenizer``. Immutable; safe from any thread.
struct AddedTokenSet: Sendable {
    /// The tokens in file order.
    let tokens: [AddedToken]
    /// The largest added id (-1 when there is none).
    let largestID: Int
    private let byID: [Int: AddedToken]
    private let byContent: [String: Int]
    private let raw: AddedTokenMatcher
    private let normalized: AddedTokenMatcher

    /// `normalize`: the file's normalizer, applied to the normalized tokens' own text here and to the text between
    /// raw matches in ``split(_:normalize:token:text:)``.
    init(_ tokens: [AddedToken], normalize: (ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar]) {
        self.tokens = tokens
        largestID = tokens.map(\.id).max() ?? -1
        byID = Dictionary(tokens.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        byContent = Dictionary(tokens.map { ($0.content, $0.id) }, uniquingKeysWith: { _, last in last })
        raw = AddedTokenMatcher(tokens.filter { !$0.normalized }.map { (Array($0.content.unicodeScalars), $0) })
        normalized = AddedTokenMatcher(tokens.filter(\.normalized).map { token in
            (normalize(Array(token.content.unicodeScalars)[...]), token)
        })
    }

    func token(id: Int) -> AddedToken? { byID[id] }
    func id(content: String) -> Int? { byContent[content] }

    /// Splits `scalars` in order into added-token ids (`token`) and normalized text without added tokens (`text`).
    func split(_ scalars: [Unicode.Scalar], normalize: (ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar],
               token: (Int) -> Void, text: (ArraySlice<Unicode.Scalar>) -> Void) {
        raw.split(scalars[...]) { piece in
            switch piece {
            case .token(let id):
                token(id)
            case .text(let range):
                let normalizedText = normalize(scalars[range])
                normalized.split(normalizedText[...]) { inner in
                    switch inner {
                    case .token(let id): token(id)
                    case .text(let r): text(normalizedText[r])
                    }
                }
            }
        }
    }
}
