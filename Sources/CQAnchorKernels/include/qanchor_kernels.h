// CQAnchorKernels: the engine's own matrix-product kernels (AVX512-BF16), llm.c style.
//
// One product:  C[M, N] (+)= A[M, K] · Wᵀ   with W a Linear weight in PyTorch layout [N, K], every product
// accumulated in fp32. W is converted once (at model load) to bf16 and packed into panels of 64 output columns;
// A is rounded to bf16 and packed per call. See bf16_gemm.c for the layouts and the math.
//
// Threading: every function is reentrant. qa_bf16_pack_a and qa_bf16_gemm work on disjoint ranges (row blocks,
// column panels), so callers run ranges on different threads; they never share output memory.
#ifndef QANCHOR_KERNELS_H
#define QANCHOR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Rows per packed block of A (the micro-kernel's row count).
#define QA_BF16_ROWS_PER_BLOCK 6
/// Output columns per packed panel of W (the micro-kernel's column count: 4 × 16 fp32 lanes).
#define QA_BF16_COLUMNS_PER_PANEL 64

/// 1 when this CPU and OS can run the bf16 kernels (AVX512F + AVX512BW + AVX512_BF16, with the OS saving the
/// AVX-512 state), else 0. Calling qa_bf16_pack_a or qa_bf16_gemm when this is 0 is undefined (SIGILL).
int qa_bf16_supported(void);

/// Round-to-nearest-even fp32 → bf16 (NaN stays NaN). Portable; no special instructions.
uint16_t qa_bf16_from_float(float value);

/// Number of uint16 elements of a packed weight with n output and k input features.
size_t qa_bf16_packed_weight_count(int n, int k);

/// Packs panels [panel_begin, panel_end) (64 output columns each) of W [n, k] (row stride ldw floats) into
/// `packed` (qa_bf16_packed_weight_count(n, k) elements for all panels), rounding each value to bf16.
/// Portable (no special instructions): runs on any CPU.
void qa_bf16_pack_weight(const float *w, int n, int k, int ldw, int panel_begin, int panel_end, uint16_t *packed);

/// Number of uint32 elements (bf16 pairs) of packed activations with m rows and k features.
size_t qa_bf16_packed_input_count(int m, int k);

/// Packs row blocks [block_begin, block_end) of A [m, k] (row stride lda floats) into `packed`
/// (qa_bf16_packed_input_count(m, k) elements), rounding to bf16. Rows past m are zero.
void qa_bf16_pack_input(const float *a, int m, int k, int lda, int block_begin, int block_end, uint32_t *packed);

/// C[:, panel_begin·64 ..< min(n, panel_end·64)] = (accumulate ? C : 0) + A · Wᵀ, for packed A (m rows) and packed
/// W (n columns), both with k features. C is row-major with row stride ldc floats; only columns < n are written.
void qa_bf16_gemm(const uint32_t *packed_input, int m, int k, const uint16_t *packed_weight, int n,
                  int panel_begin, int panel_end, float *c, int ldc, int accumulate);

/// Returns freed heap pages to the OS (glibc malloc_trim; no-op elsewhere). Loaders call it after freeing the fp32
/// copies of packed weights, so that the resident size reflects what is kept.
void qa_release_free_heap_pages(void);

/// Restarts OpenBLAS's worker threads so that they sleep as soon as they are idle instead of polling for ~2^28
/// cycles (sets OPENBLAS_THREAD_TIMEOUT=4 unless the environment sets it). Returns 1 if done, 0 if this OpenBLAS
/// lacks the entry points. Not thread-safe: call only while no thread is inside OpenBLAS (at startup).
int qa_openblas_restart_workers_without_spinning(void);

#ifdef __cplusplus
}
#endif

#endif
