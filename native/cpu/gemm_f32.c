/*
 * Kiln's native F32 GEMM panel step (AVX-512), called from Java through the FFM API by
 * dev.kiln.backend.cpu.GemmF32Native when the library is present: one packed B panel (kc x 32,
 * k-major) times a run of packed A tiles (mr = 6 or 8 rows each, row-major mr x kc), each tile
 * summed from zero over k with one fma per row and vector, exactly as GemmF32Kernel.kernel6/8 do
 * in the Vector API, in the same order, so the tiles are bit for bit the same.
 *
 * Why native: on the same packed operands this loop ran 2-6% faster than the Vector API kernel
 * (same-process A/B on Zen 4, 2 threads, 64 and 128 rows against 40 distinct 768 x 3072 weights;
 * 0-7% on ResNet-50's 1x1 convs; docs/BENCHMARKS.md, round 9). Where C2's loop loses was not
 * profiled; the conv unit's study (conv_implicit.c) found a bounds check kept per broadcast. Prefetching the next panel into L2 was tried and gave nothing
 * measurable (the hardware prefetchers already follow the packed panels).
 */
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,fma")))
#define NR 32

/* One tile of MR rows: t[r*NR + j] = sum over k of a[r*kc + k] * b[k*NR + j], from zero, k ascending. */
static inline __attribute__((always_inline)) TARGET void tile(const int MR, const float *a, int kc, const float *b, float *t) {
    __m512 c0[8], c1[8];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        c0[r] = _mm512_setzero_ps();
        c1[r] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b + (long) k * NR), b1 = _mm512_loadu_ps(b + (long) k * NR + 16);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            __m512 v = _mm512_set1_ps(a[(long) r * kc + k]);
            c0[r] = _mm512_fmadd_ps(v, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(v, b1, c1[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(t + r * NR, c0[r]);
        _mm512_storeu_ps(t + r * NR + 16, c1[r]);
    }
}

/*
 * ntiles tiles of mr rows (a: packed A, tile i at a + i*mr*kc) times the panel b (kc x NR) into
 * t (tile i at t + i*mr*NR, row-major mr x NR).
 */
TARGET void kiln_f32_gemm_panel(const float *a, int ntiles, int mr, int kc, const float *b, float *t) {
    for (int i = 0; i < ntiles; i++) {
        const float *ai = a + (long) i * mr * kc;
        float *ti = t + (long) i * mr * NR;
        if (mr == 8) tile(8, ai, kc, b, ti);
        else tile(6, ai, kc, b, ti);
    }
}
