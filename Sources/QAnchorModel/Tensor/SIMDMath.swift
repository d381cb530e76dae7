// Vector math on 16 floats at a time. Each function names the formula it implements and its accuracy.

typealias Float16x = SIMD16<Float>

@inline(__always) func loadVector(_ p: UnsafePointer<Float>) -> Float16x {
    UnsafeRawPointer(p).loadUnaligned(as: Float16x.self)
}

@inline(__always) func storeVector(_ v: Float16x, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float16x.self)
}

/// Loads `count < 16` floats, zero-filling the rest.
@inline(__always) func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> Float16x {
    var v = Float16x(repeating: 0)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always) func storePartial(_ v: Float16x, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

/// min(max(x, lo), hi) lane-wise (`SIMD.clamped` is ~10× slower: it does not lower to vector min/max).
@inline(__always) func clamp(_ x: Float16x, _ lo: Float, _ hi: Float) -> Float16x {
    pointwiseMin(pointwiseMax(x, Float16x(repeating: lo)), Float16x(repeating: hi))
}

/// exp(x) = 2^n · exp(r), n = round(x / ln 2), r = x − n·ln 2 split in two parts (Cody–Waite), |r| ≤ ln2 / 2;
/// exp(r) by the Cephes `expf` polynomial. Relative error ≤ 2 ulp on [−87, 88]; inputs are clamped to that range
/// (so exp(−∞) gives ~1e−38, not 0 — callers that need exact zeros do not feed masked entries).
@inline(__always) func vexp(_ x0: Float16x) -> Float16x {
    let x = clamp(x0, -87.0, 88.0)
    // Round to nearest with the 1.5·2²³ trick: adding it leaves round(v) in the low mantissa bits (|v| < 2²²).
    let magic = Float16x(repeating: 12_582_912.0)
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    var r = x - n * 0.693359375
    r = r - n * (-2.12194440e-4)
    var p = Float16x(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let e = p * (r * r) + r + 1
    // 2ⁿ built from its bits: (n + 127) << 23, with n read back from the shifted float's mantissa.
    let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    return e * unsafeBitCast((ni &+ 127) &<< 23, to: Float16x.self)
}

/// erf(x) as the odd/even rational approximation p(x)/q(x) on [−4, 4] used by Eigen and XLA (erf(±4) = ±1 in fp32).
/// Absolute error ≤ 2e−7 against the exact function.
@inline(__always) func verf(_ x0: Float16x) -> Float16x {
    let x = clamp(x0, -4, 4)
    let x2 = x * x
    var p = Float16x(repeating: -2.72614225801306e-10)
    p = p * x2 + 2.77068142495902e-08
    p = p * x2 + -2.10102402082508e-06
    p = p * x2 + -5.69250639462346e-05
    p = p * x2 + -7.34990630326855e-04
    p = p * x2 + -2.95459980854025e-03
    p = p * x2 + -1.60960333262415e-02
    p = p * x
    var q = Float16x(repeating: -1.45660718464996e-05)
    q = q * x2 + -2.13374055278905e-04
    q = q * x2 + -1.68282697438203e-03
    q = q * x2 + -7.37332916720468e-03
    q = q * x2 + -1.42647390514189e-02
    return p / q
}

/// Applies `f` to `count` floats from `x` into `y` (which may alias `x`), 16 at a time.
@inline(__always) func mapVectors(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
                                  _ f: (Float16x) -> Float16x) {
    var i = 0
    while i + 16 <= count {
        storeVector(f(loadVector(x + i)), y + i)
        i += 16
    }
    if i < count { storePartial(f(loadPartial(x + i, count - i)), y + i, count - i) }
}

/// Sum of `count` floats (16 partial sums, then a horizontal sum).
@inline(__always) func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = Float16x(repeating: 0)
    var i = 0
    while i + 16 <= count { acc += loadVector(x + i); i += 16 }
    if i < count { acc += loadPartial(x + i, count - i) }
    return acc.sum()
}

/// y += x over `count` floats.
@inline(__always) func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count { storeVector(loadVector(y + i) + loadVector(x + i), y + i); i += 16 }
    while i < count { y[i] += x[i]; i += 1 }
}
