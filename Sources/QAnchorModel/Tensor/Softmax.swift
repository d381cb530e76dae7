/// Softmax over the first `valid` entries of a row, in place: p_j = exp(s_j − max s) / Σ exp(s_k − max s);
/// entries [valid, width) are set to 0 (masked keys: exactly zero probability, as a −inf / finfo.min mask gives).
func softmaxRow(_ s: UnsafeMutablePointer<Float>, valid: Int, width: Int) {
    var mx = -Float.infinity
    for j in 0..<valid where s[j] > mx { mx = s[j] }
    mapVectors(s, s, valid) { v in vexp(v - mx) }
    let inv = 1 / sum(s, valid)
    mapVectors(s, s, valid) { v in v * inv }
    if valid < width { (s + valid).update(repeating: 0, count: width - valid) }
}
