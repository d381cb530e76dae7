/// A WordPiece model (`tokenizers`' `WordPiece`): greedy longest-match-first sub-words of one word.
///
/// A word longer than `maxInputCharsPerWord` scalars, or one that cannot be covered by vocabulary pieces
/// (the first from the start of the word, the others with the `##` continuation prefix), becomes the
/// single unknown token. Immutable; safe from any thread.
struct WordPieceModel: Sendable {
    /// Token strings by id; nil for ids the vocabulary skips.
    let tokens: [String?]
    let ids: [String: Int]
    let unknownID: Int
    let maxInputCharsPerWord: Int
    let continuingSubwordPrefix: String
    /// All vocabulary entries, for the first piece of a word.
    private let initialPieces: ScalarTrie
    /// Entries starting with the continuation prefix, without it, for the following pieces.
    private let continuationPieces: ScalarTrie

    init(vocabulary: [String: Int], unknownID: Int, maxInputCharsPerWord: Int, continuingSubwordPrefix: String) {
        var tokens = [String?](repeating: nil, count: (vocabulary.values.max() ?? -1) + 1)
        var initial = ScalarTrie(), continuation = ScalarTrie()
        // Insert in id order so that the result does not depend on dictionary order.
        // Prefix tests compare scalars: `String.hasPrefix` compares grapheme clusters, and "##ि" or "##️"
        // (a mark or variation selector after '#') does not start with the cluster "##".
        let prefix = Array(continuingSubwordPrefix.unicodeScalars)
        for (token, id) in vocabulary.sorted(by: { $0.value < $1.value }) {
            tokens[id] = token
            let scalars = Array(token.unicodeScalars)
            initial.insert(scalars, id: Int32(id))
            if scalars.count > prefix.count, scalars.starts(with: prefix) {
                continuation.insert(scalars[prefix.count...], id: Int32(id))
            }
        }
        self.tokens = tokens
        self.ids = vocabulary
        self.unknownID = unknownID
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.initialPieces = initial
        self.continuationPieces = continuation
    }

    /// Appends the ids of `word`'s pieces (or the unknown id) to `out`.
    func tokenize(_ word: ArraySlice<Unicode.Scalar>, into out: inout [Int]) {
        if word.isEmpty { return }
        if word.count > maxInputCharsPerWord {
            out.append(unknownID)
            return
        }
        let mark = out.count
        var start = word.startIndex
        while start < word.endIndex {
            let trie = start == word.startIndex ? initialPieces : continuationPieces
            guard let (end, id) = trie.longestPrefix(of: word, from: start) else {
                out.removeSubrange(mark...)
                out.append(unknownID)
                return
            }
            out.append(Int(id))
            start = end
        }
    }
}
