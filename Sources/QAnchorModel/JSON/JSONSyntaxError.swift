/// Where a JSON text first breaks the grammar of RFC 8259, for error messages (Foundation's parser on Linux says only
/// "not valid JSON"). A value type; `locate` scans once, iteratively (no recursion, so deep nesting cannot overflow
/// the stack), and names the byte offset, line and column — never the offending content.
public struct JSONSyntaxError: Sendable, Equatable, CustomStringConvertible {
    /// 0-based byte offset of the first byte that cannot continue a valid JSON text (the length: it ended early).
    public var offset: Int
    /// 1-based line and column (in bytes) of `offset`.
    public var line: Int
    public var column: Int
    /// What was expected there.
    public var expected: String

    public var description: String {
        "\(expected) at line \(line), column \(column) (byte \(offset))"
    }

    /// The first syntax error in `bytes`, or nil if they are one valid JSON value (surrounded by whitespace).
    public static func locate(_ bytes: [UInt8]) -> JSONSyntaxError? {
        var i = 0
        enum Container { case object, array }
        var stack: [Container] = []
        let n = bytes.count
        func fail(_ expected: String) -> JSONSyntaxError {
            var line = 1, column = 1
            for b in bytes[..<min(i, n)] { if b == 0x0A { line += 1; column = 1 } else { column += 1 } }
            return JSONSyntaxError(offset: i, line: line, column: column,
                                   expected: i >= n ? "unexpected end of input: \(expected)" : "invalid character: \(expected)")
        }
        func skipSpace() { while i < n, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        func string() -> Bool {  // at the opening quote
            i += 1
            while i < n {
                let b = bytes[i]
                if b == 0x22 { i += 1; return true }
                if b < 0x20 { return false }
                if b == 0x5C {
                    i += 1
                    guard i < n else { return false }
                    if bytes[i] == 0x75 {
                        for _ in 0..<4 {
                            i += 1
                            guard i < n, (0x30...0x39).contains(bytes[i]) || (0x41...0x46).contains(bytes[i] & 0xDF) else { return false }
                        }
                    } else if ![0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74].contains(bytes[i]) { return false }
                }
                i += 1
            }
            return false
        }
        func digits() -> Bool {
            let start = i
            while i < n, (0x30...0x39).contains(bytes[i]) { i += 1 }
            return i > start
        }
        func number() -> Bool {
            if bytes[i] == 0x2D { i += 1 }
            guard i < n else { return false }
            if bytes[i] == 0x30 { i += 1 } else if !digits() { return false }
            if i < n, bytes[i] == 0x2E { i += 1; guard digits() else { return false } }
            if i < n, bytes[i] | 0x20 == 0x65 {
                i += 1
                if i < n, bytes[i] == 0x2B || bytes[i] == 0x2D { i += 1 }
                guard digits() else { return false }
            }
            return true
        }
        func literal(_ word: String) -> Bool {
            for c in word.utf8 { guard i < n, bytes[i] == c else { return false }; i += 1 }
            return true
        }
        // A value is expected at `i`; afterwards, what its container allows.
        var expectValue = true
        while true {
            skipSpace()
            if expectValue {
                guard i < n else { return fail("a value") }
                switch bytes[i] {
                case 0x7B:  // {
                    i += 1; skipSpace()
                    if i < n, bytes[i] == 0x7D { i += 1; expectValue = false; break }
                    stack.append(.object)
                    guard i < n, bytes[i] == 0x22, string() else { return fail("a string key") }
                    skipSpace()
                    guard i < n, bytes[i] == 0x3A else { return fail("':'") }
                    i += 1
                    continue
                case 0x5B:  // [
                    i += 1; skipSpace()
                    if i < n, bytes[i] == 0x5D { i += 1; expectValue = false; break }
                    stack.append(.array)
                    continue
                case 0x22: guard string() else { return fail("a complete string") }
                case 0x2D, 0x30...0x39: guard number() else { return fail("a number") }
                case 0x74: guard literal("true") else { return fail("true") }
                case 0x66: guard literal("false") else { return fail("false") }
                case 0x6E: guard literal("null") else { return fail("null") }
                default: return fail("a value")
                }
                expectValue = false
            }
            // After a value: close containers, or continue the current one.
            skipSpace()
            guard let top = stack.last else {
                return i == n ? nil : fail("the end of the text")
            }
            guard i < n else { return fail(top == .object ? "',' or '}'" : "',' or ']'") }
            if bytes[i] == 0x2C {  // ,
                i += 1
                if top == .object {
                    skipSpace()
                    guard i < n, bytes[i] == 0x22, string() else { return fail("a string key") }
                    skipSpace()
                    guard i < n, bytes[i] == 0x3A else { return fail("':'") }
                    i += 1
                }
                expectValue = true
            } else if bytes[i] == (top == .object ? 0x7D : 0x5D) {
                i += 1
                stack.removeLast()
            } else {
                return fail(top == .object ? "',' or '}'" : "',' or ']'")
            }
        }
    }
}
