/// The known name closest to a misspelt one, for "unknown key" messages (configuration keys, manifest fields).
public enum NearestName {
    /// ", did you mean 'x'?" for the nearest candidate within a few edits (at most max(2, a quarter of the name)),
    /// else "". Ties go to the alphabetically first candidate.
    public static func suggestion(for name: String, among candidates: some Collection<String>) -> String {
        let scored = candidates.map { ($0, editDistance(name, $0)) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        guard let (best, distance) = scored, distance <= max(2, name.count / 4) else { return "" }
        return ", did you mean '\(best)'?"
    }

    /// Levenshtein distance over characters.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
