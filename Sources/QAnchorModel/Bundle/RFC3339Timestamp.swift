/// Parses RFC 3339 times (`2026-11-28T08:00:00Z`, `2026-11-28T16:00:00.250+08:00`) into epoch milliseconds.
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1–9 digits (truncated to milliseconds), then `Z` or
/// `±HH:MM`; ASCII digits only, upper-case `T` and `Z`, real calendar dates (year ≥ 1, leap years), hours ≤ 23,
/// minutes and seconds ≤ 59 (no leap second). The same rules as `parse_time_ms` in
/// `ops/model/qanchor_reference.py`. Stateless.
public enum RFC3339Timestamp {
    /// Epoch milliseconds, or nil when `text` is not an accepted RFC 3339 time.
    public static func milliseconds(_ text: String) -> Int64? {
        let s = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard i + n <= s.count else { return nil }
            var v: Int64 = 0
            for k in i..<(i + n) {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(s[k]) else { return nil }
                v = v * 10 + Int64(s[k] - UInt8(ascii: "0"))
            }
            i += n
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < s.count, s[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2), expect("T"),
              let hour = digits(2), expect(":"), let minute = digits(2), expect(":"), let second = digits(2) else {
            return nil
        }
        var millis: Int64 = 0
        if i < s.count, s[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < s.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(s[i]) { i += 1 }
            let count = i - start
            guard (1...9).contains(count) else { return nil }
            for k in 0..<3 { millis = millis * 10 + (k < count ? Int64(s[start + k] - UInt8(ascii: "0")) : 0) }
        }
        var offsetMinutes: Int64 = 0
        if expect("Z") {
            offsetMinutes = 0
        } else if i < s.count, s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-") {
            let sign: Int64 = s[i] == UInt8(ascii: "+") ? 1 : -1
            i += 1
            guard let oh = digits(2), expect(":"), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
        } else {
            return nil
        }
        guard i == s.count, year >= 1, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 59 else {
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetMinutes * 60
        return seconds * 1_000 + millis
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
