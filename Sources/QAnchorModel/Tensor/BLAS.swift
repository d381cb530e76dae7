import CCBLAS
import CQAnchorKernels
import Synchronization

/// The OpenBLAS runtime the engine multiplies matrices with.
///
/// OpenBLAS keeps a process-wide thread pool; `setThreads` changes it for every caller in the process.
/// Threading: the functions here may be called from any thread, but engines call `sgemm` one call at a time.
public enum BLAS {
    /// Sets the number of OpenBLAS worker threads (process-wide). Values < 1 are treated as 1.
    ///
    /// The first call also restarts OpenBLAS's workers so that they sleep as soon as they are idle
    /// (`OPENBLAS_THREAD_TIMEOUT=4` unless the environment sets another value): by default they poll for ~0.1 s after
    /// every call, taking the cores from the engine's own parallel work between matrix products (measured: the bf16
    /// prefill 25–30 % slower on 2 cores). Call it at startup, before any thread uses OpenBLAS (it is not safe while
    /// a product runs).
    public static func setThreads(_ count: Int) {
        workersRestarted.withLock { restarted in
            if !restarted { restarted = qa_openblas_restart_workers_without_spinning() != 0 }
        }
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// Whether OpenBLAS's idle workers were restarted to sleep at once (false before the first ``setThreads(_:)``, or
    /// if this OpenBLAS lacks the entry points).
    public static var idleWorkersSleep: Bool { workersRestarted.withLock { $0 } }

    private static let workersRestarted = Mutex(false)

    /// The number of OpenBLAS worker threads currently configured.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The kernel set OpenBLAS picked for this CPU (e.g. "Haswell", "Cooperlake"); it depends on
    /// `OPENBLAS_CORETYPE` at load time.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The build configuration string of the loaded OpenBLAS.
    public static var config: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }
}

/// `C[M,N] = alpha * A[M,K] · op(B) + beta * C`, row-major, where `op(B) = Bᵀ` when `bTransposed` (B stored as
/// `[N,K]`, the layout of a PyTorch Linear weight) else `B` (`[K,N]`). `lda/ldb/ldc` are row strides in floats.
@inline(__always)
func sgemm(m: Int, n: Int, k: Int,
           a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int, bTransposed: Bool,
           c: UnsafeMutablePointer<Float>, ldc: Int,
           alpha: Float = 1, beta: Float = 0) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, bTransposed ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Linear layer: `y[T, O] = x[T, I] · Wᵀ + b` with `W: [O, I]` (PyTorch layout, used by sgemm as-is) and an optional
/// bias `b: [O]`. With `accumulate`, adds into `y` instead (`y += x · Wᵀ`, used for residual connections).
func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
            weight: Tensor, bias: Tensor?, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    let outFeatures = weight.shape[0]
    var beta: Float = accumulate ? 1 : 0
    if let bias {
        // y starts as the bias rows, then sgemm adds x·Wᵀ (the order PyTorch's addmm uses).
        for r in 0..<rows {
            let row = y + r * outFeatures
            if accumulate { add(bias.data, into: row, count: outFeatures) } else { row.update(from: bias.data, count: outFeatures) }
        }
        beta = 1
    }
    sgemm(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: weight.data, ldb: inFeatures,
          bTransposed: true, c: y, ldc: outFeatures, beta: beta)
}

/// Linear layer for either precision: fp32 weights go through ``linear(_:rows:inFeatures:weight:bias:into:accumulate:)``
/// (sgemm); bf16 weights through ``bf16Linear(_:rows:weight:into:accumulate:scratch:threads:)`` (bias rows written
/// first, then accumulated into, as on the fp32 path). `scratch` holds the packed bf16 input; unused for fp32.
func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, weight: LinearWeight, bias: Tensor?,
            into y: UnsafeMutablePointer<Float>, accumulate: Bool = false, scratch: Scratch, threads: Int) {
    switch weight {
    case .fp32(let w):
        linear(x, rows: rows, inFeatures: inFeatures, weight: w, bias: bias, into: y, accumulate: accumulate)
    case .bf16(let w):
        precondition(w.inFeatures == inFeatures, "bf16 weight has \(w.inFeatures) input features, not \(inFeatures)")
        if let bias {
            for r in 0..<rows {
                let row = y + r * w.outFeatures
                if accumulate { add(bias.data, into: row, count: w.outFeatures) } else { row.update(from: bias.data, count: w.outFeatures) }
            }
        }
        bf16Linear(x, rows: rows, weight: w, into: y, accumulate: accumulate || bias != nil, scratch: scratch, threads: threads)
    }
}
