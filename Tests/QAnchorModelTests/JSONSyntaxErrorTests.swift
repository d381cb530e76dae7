import Foundation
import QAnchorModel
import Testing

/// `JSONSyntaxError.locate`: where a bad input line breaks (for `qanchor embed` and the dead-letter detail).
@Suite struct JSONSyntaxErrorTests {
    /// The position is the first byte that cannot continue the text (not the start of the bad token).
    @Test(arguments: [
        (#"{"event_id":"a","ts":1"#, 1, 23, "unexpected end of input: ',' or '}'"),
        (#"{"event_id": x}"#, 1, 14, "invalid character: a value"),
        (#"{"a":1,}"#, 1, 8, "invalid character: a string key"),
        ("{\"a\":\n  [1, 2,, 3]}", 2, 9, "invalid character: a value"),
        ("{\"a\":\"tab\tinside\"}", 1, 10, "invalid character: a complete string"),
        (#"{"a":01}"#, 1, 7, "invalid character: ',' or '}'"),
        (#"{"a":1} {"b":2}"#, 1, 9, "invalid character: the end of the text"),
        (#"{"a":tru}"#, 1, 9, "invalid character: true"),
        (#"{"a":"\x"}"#, 1, 8, "invalid character: a complete string"),
        ("", 1, 1, "unexpected end of input: a value"),
    ])
    func namesLineColumnAndWhatWasExpected(_ text: String, _ line: Int, _ column: Int, _ expected: String) throws {
        let error = try #require(JSONSyntaxError.locate(Array(text.utf8)))
        #expect(error.line == line && error.column == column, "\(error)")
        #expect(error.expected == expected, "\(error)")
    }

    /// Agrees with Foundation's parser on what is valid, over a corpus of valid texts and their truncations.
    @Test func acceptsExactlyTheValidTexts() throws {
        let valid = [#"{"event_id":"b-9f1c","user_id":"u42","ts":1764288000000,"text":"Paid 38.00 \"CNY\" \\ \u00e9 \ud83d\ude00"}"#,
                     #"{"features":[1,-2.5,3e10,-0.0,1E-7,0],"nested":{"a":[[],{}],"b":null,"c":true,"d":false}}"#,
                     "  {\n\t\"a\" : [ 1 , 2 ] \r\n}  ", "[]", "\"x\"", "-0.5e+3", String(repeating: "[", count: 3000) + String(repeating: "]", count: 3000)]
        for text in valid {
            #expect(JSONSyntaxError.locate(Array(text.utf8)) == nil, "\(text.prefix(60))")
            let bytes = Array(text.utf8)
            for cut in stride(from: 1, to: bytes.count, by: max(1, bytes.count / 40)) {
                let prefix = Array(bytes[..<cut])
                let foundation = (try? JSONSerialization.jsonObject(with: Data(prefix), options: [.fragmentsAllowed])) != nil
                #expect((JSONSyntaxError.locate(prefix) == nil) == foundation, "cut at \(cut) of \(text.prefix(40))")
            }
        }
    }
}
