import Foundation

/// Rotary position embedding tables, computed exactly as `transformers` does in fp32:
/// inv_freq[i] = 1 / θ^(2i / hd) (fp32), angle = Float(position) · inv_freq[i] (one fp32 product), cos/sin of it.
///
/// Invariants: `cos` and `sin` hold `positions × half` values (half = head_dim / 2), row p for `firstPosition + p`.
/// Threading: filled by one engine call under its lock.
struct RotaryTable {
    let invFreq: [Float]

    init(theta: Double, headDim: Int) {
        let half = headDim / 2
        invFreq = (0..<half).map { i in
            let exponent = Float(2 * i) / Float(headDim)          // fp32, as torch.arange(...).float() / dim
            let power = Float(Foundation.pow(theta, Double(exponent)))   // base ** tensor in fp32
            return 1 / power
        }
    }

    /// Fills `cos`/`sin` (each `[count, half]`) for positions `first ..< first + count`.
    func fill(first: Int, count: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = invFreq.count
        for p in 0..<count {
            let pos = Float(first + p)
            for i in 0..<half {
                let angle = pos * invFreq[i]
                cos[p * half + i] = Float(Foundation.cos(Double(angle)))
                sin[p * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
    }
}

/// Applies RoPE in place to `heads` heads of one row `x` (head h at `x + h·hd`), HF rotate_half convention:
/// x1 = x[:hd/2], x2 = x[hd/2:];  x1' = x1·cos − x2·sin,  x2' = x2·cos + x1·sin.
@inline(__always)
func applyRoPE(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
               cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let half = headDim / 2
    for h in 0..<heads {
        let x1 = x + h * headDim, x2 = x1 + half
        for i in 0..<half {
            let a = x1[i], b = x2[i]
            x1[i] = a * cos[i] - b * sin[i]
            x2[i] = b * cos[i] + a * sin[i]
        }
    }
}
