// OpenBLAS's idle worker threads. After every call, the workers of OpenBLAS's pthread build keep polling for work
// (sched_yield) for 2^28 cycles (~0.1 s here) before they sleep — so between two sgemm calls they compete for the
// cores with the engine's own parallel work (softmax, SwiGLU, norms, the bf16 GEMM). Measured on 2 cores: ~0.1 CPU-s
// burnt per call, the bf16 Qwen2 prefill 25–30 % slower. OPENBLAS_THREAD_TIMEOUT=4 (2^4 cycles) makes them sleep at
// once, but OpenBLAS reads it only when it starts its threads (at library load). This restarts them with it.
#include "qanchor_kernels.h"

#include <stdlib.h>

// Exported by libopenblas (pthread build), not declared in cblas.h; weak, so a build without them links and the
// function reports that it did nothing.
extern void blas_thread_shutdown_(void) __attribute__((weak));
extern int blas_thread_init(void) __attribute__((weak));
extern void openblas_read_env(void) __attribute__((weak));

int qa_openblas_restart_workers_without_spinning(void) {
    if (!blas_thread_shutdown_ || !blas_thread_init || !openblas_read_env) return 0;
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);   // an explicit value wins
    blas_thread_shutdown_();
    openblas_read_env();
    blas_thread_init();
    return 1;
}
