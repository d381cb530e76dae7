/// Softmax over the first `valid` entries of a row, in place: p_j = exp(s_j − max s) / Σ exp(s_k − max s);
/// entries [valid, width) are set to 0 (masked keys: exactly zero probability, as a −inf / finfo.min mask gives).
/// Two passes over the row: max; then exp, stored and summed in 16 lane-wise partial sums (chunk order, as ``sum``);
/// then the scaling.
func softmaxRow(_ s: UnsafeMutablePointer<Float>, valid: Int, width: Int) {
    let mx = maximum(s, valid)
    var total = Float16x(repeating: 0), i = 0
    while i + 16 <= valid {
        let e = vexp(loadVector(s + i) - mx)
        storeVector(e, s + i)
        total += e
        i += 16
    }
    if i < valid {
        var e = vexp(loadPartial(s + i, valid - i) - mx)
        for lane in (valid - i)..<16 { e[lane] = 0 }
        storePartial(e, s + i, valid - i)
        total += e
    }
    let inv = 1 / total.sum()
    mapVectors(s, s, valid) { v in v * inv }
    if valid < width { (s + valid).update(repeating: 0, count: width - valid) }
}

/// The largest of `count ≥ 1` floats (16 lane-wise maxima, then across lanes). Compare-and-select rather than
/// `pointwiseMax`, which lowers to a scalar loop (it implements IEEE `maximum` NaN rules).
@inline(__always) func maximum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var m = Float16x(repeating: -.infinity), i = 0
    while i + 16 <= count {
        let v = loadVector(x + i)
        m.replace(with: v, where: v .> m)
        i += 16
    }
    var result = m.max()
    while i < count { if x[i] > result { result = x[i] }; i += 1 }
    return result
}
