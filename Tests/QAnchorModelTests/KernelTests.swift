import Foundation
import Testing
@testable import QAnchorModel

@Suite struct KernelTests {
    /// The vector erf/exp against libm over the range that matters (GELU inputs, softmax exponents).
    @Test func vectorErfAndExpMatchLibm() {
        var maxErf = 0.0, maxExpRelative = 0.0
        for i in 0..<4000 {
            let x = Float(i - 2000) / 250                   // [-8, 8)
            let v = Float16x(repeating: x)
            maxErf = max(maxErf, abs(Double(verf(v)[0]) - Foundation.erf(Double(x))))
            let e = Float(i - 2000) / 25                    // [-80, 80)
            let got = Double(vexp(Float16x(repeating: e))[0]), want = Foundation.exp(Double(e))
            maxExpRelative = max(maxExpRelative, abs(got - want) / want)
        }
        #expect(maxErf < 5e-7)
        #expect(maxExpRelative < 5e-7)
    }

    @Test func softmaxMasksExactlyAndNormalises() {
        var row: [Float] = [1, 2, 3, 100, 100]
        row.withUnsafeMutableBufferPointer { softmaxRow($0.baseAddress!, valid: 3, width: 5) }
        #expect(row[3] == 0 && row[4] == 0)
        #expect(abs(row[0] + row[1] + row[2] - 1) < 1e-6)
        #expect(row[2] > row[1] && row[1] > row[0])
    }
}
