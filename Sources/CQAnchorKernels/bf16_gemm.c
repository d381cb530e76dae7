// bf16 matrix product with fp32 accumulation for AVX512-BF16 CPUs (llm.c style: the whole kernel in one file).
//
// The math. A Linear layer computes, for every row i of the input A [M, K] and output feature j of W [N, K]:
//
//     C[i, j] (+)= Σ_k  bf16(A[i, k]) · bf16(W[j, k])          (products exact in fp32, sums in fp32)
//
// where bf16(x) rounds an fp32 value to its top 16 bits, round-to-nearest-even (8 exponent bits, 7 mantissa bits:
// relative error ≤ 2⁻⁹). A Qwen2 checkpoint stored in bf16 loses nothing; activations lose ~3 decimal digits.
// The instruction: VDPBF16PS acc, a, b  — for each of its 16 fp32 lanes l:
//
//     acc[l] += a[2l]·b[2l] + a[2l+1]·b[2l+1]          (a, b: 32 bf16 values each)
//
// i.e. two multiply-adds per lane, twice the work of an fp32 FMA per instruction. K is therefore walked in pairs:
//
//   packed W (once, at load): panels of 64 output columns; panel p holds, for each k-pair q, 64 columns × 2 values:
//       Wp[p][q][c][e] = bf16(W[64p + c, 2q + e])        (zero past N or K)  — 4 vectors of 32 bf16 per k-pair
//   packed A (per call): blocks of 6 rows; block b holds, for each k-pair q, 6 rows × one (bf16, bf16) pair:
//       Ap[b][q][r] = (bf16(A[6b + r, 2q]), bf16(A[6b + r, 2q + 1]))   (zero past M or K) — one uint32 each
//
// The micro-kernel keeps a 6 × 64 tile of C in 24 zmm registers; per k-pair it loads the panel's 4 vectors and,
// for each of the 6 rows, broadcasts that row's pair to all lanes: 24 VDPBF16PS per 4 loads + 6 broadcasts.
// Cache blocking (GotoBLAS order): K in blocks of KC pairs and rows in blocks of MC·6, so that one panel slice of W
// (KC · 256 bytes) and one slice of A (MC · 6 · KC · 4 bytes) stay in L2 while the panel is multiplied with it.
#include "qanchor_kernels.h"

#include <immintrin.h>
#include <string.h>

#define MR QA_BF16_ROWS_PER_BLOCK       // 6 rows per block of A
#define NR QA_BF16_COLUMNS_PER_PANEL    // 64 columns per panel of W
#define NV (NR / 16)                    // 4 zmm vectors across a panel
#define KC 256                          // k-pairs per cache block: a panel slice is 64 KiB (L2)
#define MC 20                           // row blocks (120 rows) per cache block: an A slice is 120 KiB (L2)

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

int qa_bf16_supported(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();   // the runtime's feature bits include the OS (XCR0) check for AVX-512 state
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

uint16_t qa_bf16_from_float(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x0040u);   // NaN: keep it quiet
    bits += 0x7fffu + ((bits >> 16) & 1u);                                                // round to nearest even
    return (uint16_t)(bits >> 16);
}

static inline int pairs_of(int k) { return (k + 1) / 2; }

size_t qa_bf16_packed_weight_count(int n, int k) {
    return (size_t)((n + NR - 1) / NR) * (size_t)pairs_of(k) * NR * 2;
}

void qa_bf16_pack_weight(const float *w, int n, int k, int ldw, int panel_begin, int panel_end, uint16_t *packed) {
    const int kp = pairs_of(k);
    for (int p = panel_begin; p < panel_end; p++) {
        uint16_t *panel = packed + (size_t)p * kp * NR * 2;
        for (int c = 0; c < NR; c++) {
            const int j = p * NR + c;
            for (int kk = 0; kk < 2 * kp; kk++) {
                const float x = (j < n && kk < k) ? w[(size_t)j * ldw + kk] : 0.0f;
                panel[(size_t)(kk / 2) * NR * 2 + c * 2 + (kk & 1)] = qa_bf16_from_float(x);
            }
        }
    }
}

size_t qa_bf16_packed_input_count(int m, int k) {
    return (size_t)((m + MR - 1) / MR) * (size_t)pairs_of(k) * MR;
}

// Row i of A rounded to bf16 pairs (VCVTNE2PS2BF16: round to nearest even), scattered to its slots of the block.
BF16_TARGET void qa_bf16_pack_input(const float *a, int m, int k, int lda, int block_begin, int block_end,
                                    uint32_t *packed) {
    const int kp = pairs_of(k);
    uint32_t pairs[16];
    for (int b = block_begin; b < block_end; b++) {
        uint32_t *block = packed + (size_t)b * kp * MR;
        for (int r = 0; r < MR; r++) {
            const int i = b * MR + r;
            if (i >= m) {
                for (int q = 0; q < kp; q++) block[(size_t)q * MR + r] = 0;
                continue;
            }
            const float *row = a + (size_t)i * lda;
            for (int q0 = 0; q0 < kp; q0 += 16) {          // 16 pairs = 32 floats per step
                const int left = k - 2 * q0;
                const __mmask16 lo = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
                const __mmask16 hi = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
                const __m512 x0 = _mm512_maskz_loadu_ps(lo, row + 2 * q0);
                const __m512 x1 = _mm512_maskz_loadu_ps(hi, row + 2 * q0 + 16);
                _mm512_storeu_si512(pairs, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
                const int count = kp - q0 < 16 ? kp - q0 : 16;
                for (int q = 0; q < count; q++) block[(size_t)(q0 + q) * MR + r] = pairs[q];
            }
        }
    }
}

// C tile [rows ≤ 6, cols ≤ 64] (+)= Ap block · Wp panel over `pairs` k-pairs. `load`: start from C, else from 0.
BF16_TARGET static inline __attribute__((always_inline))
void micro_kernel(const uint32_t *ap, const uint16_t *wp, int pairs, float *c, int ldc, int rows, int cols, int load) {
    __mmask16 mask[NV];
    for (int v = 0; v < NV; v++) {
        const int n = cols - 16 * v;
        mask[v] = n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
    }
    __m512 acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = (load && r < rows) ? _mm512_maskz_loadu_ps(mask[v], c + (size_t)r * ldc + 16 * v)
                                           : _mm512_setzero_ps();
    for (int q = 0; q < pairs; q++) {
        __m512bh w[NV];
        for (int v = 0; v < NV; v++) w[v] = (__m512bh)_mm512_loadu_si512(wp + (size_t)q * NR * 2 + 32 * v);
        for (int r = 0; r < MR; r++) {
            const __m512bh x = (__m512bh)_mm512_set1_epi32((int)ap[(size_t)q * MR + r]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, w[v]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(c + (size_t)r * ldc + 16 * v, mask[v], acc[r][v]);
}

BF16_TARGET void qa_bf16_gemm(const uint32_t *packed_input, int m, int k, const uint16_t *packed_weight, int n,
                              int panel_begin, int panel_end, float *c, int ldc, int accumulate) {
    const int kp = pairs_of(k), blocks = (m + MR - 1) / MR;
    if (kp == 0 && !accumulate) {
        for (int i = 0; i < m; i++)
            for (int j = panel_begin * NR; j < n && j < panel_end * NR; j++) c[(size_t)i * ldc + j] = 0;
        return;
    }
    for (int q0 = 0; q0 < kp; q0 += KC) {
        const int pairs = kp - q0 < KC ? kp - q0 : KC;
        for (int b0 = 0; b0 < blocks; b0 += MC) {
            const int b1 = b0 + MC < blocks ? b0 + MC : blocks;
            for (int p = panel_begin; p < panel_end; p++) {
                const int cols = n - p * NR < NR ? n - p * NR : NR;
                const uint16_t *wp = packed_weight + ((size_t)p * kp + q0) * NR * 2;
                for (int b = b0; b < b1; b++) {
                    const int rows = m - b * MR < MR ? m - b * MR : MR;
                    micro_kernel(packed_input + ((size_t)b * kp + q0) * MR, wp, pairs,
                                 c + (size_t)b * MR * ldc + p * NR, ldc, rows, cols, accumulate || q0 > 0);
                }
            }
        }
    }
}
