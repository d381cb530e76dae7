/// GPT-2's byte-to-unicode table, used by byte-level BPE (`ByteLevel` pre-tokenizer and decoder).
///
/// Every byte maps to one printable scalar: the bytes `!`…`~`, `¡`…`¬` and `®`…`ÿ` map to the scalar
/// with the same value, the 68 others (controls, space, DEL, NBSP, soft hyphen, …) to U+0100 upwards in
/// byte order. So a space is `Ġ` (U+0120) and a newline `Ċ` (U+010A) in a byte-level vocabulary.
/// Immutable tables; safe from any thread.
enum ByteLevelAlphabet {
    /// `scalarForByte[b]`: the vocabulary scalar standing for byte `b`.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a vocabulary scalar stands for, or nil if the scalar is not in the alphabet.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = scalar.value
        if (0x21...0x7E).contains(v) || (0xA1...0xAC).contains(v) || (0xAE...0xFF).contains(v) { return UInt8(v) }
        guard v >= 256, v < 256 + 68 else { return nil }
        return nonPrintableBytes[Int(v - 256)]
    }

    /// The 68 bytes without a printable scalar of their own, in byte order.
    private static let nonPrintableBytes: [UInt8] = (0..<256).compactMap { b in
        let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
        return printable ? nil : UInt8(b)
    }

    /// The bytes a byte-level vocabulary string stands for, or the first scalar outside the alphabet.
    static func bytes(of token: String) -> Result<[UInt8], OutsideAlphabet> {
        var out = [UInt8]()
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard let b = byte(for: s) else { return .failure(OutsideAlphabet(scalar: s)) }
            out.append(b)
        }
        return .success(out)
    }

    /// A scalar that is not one of the 256 byte-level symbols.
    struct OutsideAlphabet: Error {
        let scalar: Unicode.Scalar
    }
}
