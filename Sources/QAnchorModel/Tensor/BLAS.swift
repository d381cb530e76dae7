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

/// fp32 Linear layer for the fixed-precision parts (adapters, heads): `y[T, O] = x[T, I] · Wᵀ + b` with `W: [O, I]`
/// (PyTorch layout) and an optional bias `b: [O]`; with `accumulate`, adds into `y`. The backend-independent
/// ``linear(_:rows:inFeatures:weight:bias:into:accumulate:scratch:threads:)`` on an ``FP32LinearWeight``.
func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
            weight: Tensor, bias: Tensor?, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
    linear(x, rows: rows, inFeatures: inFeatures, weight: FP32LinearWeight(weight), bias: bias, into: y,
           accumulate: accumulate, scratch: Scratch(), threads: 1)
}
