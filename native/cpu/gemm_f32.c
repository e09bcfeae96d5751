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

/* d[c*dl + i] = s[i*sl + c] for i, c < 8: one 8 x 8 block transposed in registers (unpack, shuffle, lane permute). */
static inline __attribute__((always_inline)) TARGET void transpose8(const float *s, long sl, float *d, long dl) {
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + sl), r2 = _mm256_loadu_ps(s + 2 * sl),
           r3 = _mm256_loadu_ps(s + 3 * sl), r4 = _mm256_loadu_ps(s + 4 * sl), r5 = _mm256_loadu_ps(s + 5 * sl),
           r6 = _mm256_loadu_ps(s + 6 * sl), r7 = _mm256_loadu_ps(s + 7 * sl);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
           u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
           u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
           u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + dl, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * dl, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * dl, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * dl, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * dl, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * dl, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * dl, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/*
 * The packers for operands stored transposed, where the Java packers can only gather element by
 * element: the Vector API has no in-lane unpack or shuffle to transpose with, and that gather cost
 * 10-20% of a transposed-A product (dW = g^T x, 512 x 512 x 1024 at 2 threads: 160-178 against
 * 200+ GFLOP/s untransposed; Zen 4). Both move the same floats as the Java packers, bit for bit.
 *
 * kiln_f32_pack_at: A with a(r, k) at src[r + k*ld] (the contraction runs down the rows of both
 * operands) into the row-major tile panels: rows [0, rows) in panels of mr rows,
 * dst[p*kc + r*kc + k] = a(p + r, k), rows past the end of the last panel zero.
 */
TARGET void kiln_f32_pack_at(const float *src, long ld, int rows, int kc, int mr, float *dst) {
    for (int p = 0; p < rows; p += mr) {
        int n = rows - p < mr ? rows - p : mr;
        float *d = dst + (long) p * kc;
        const float *s = src + p;
        int k = 0;
        if (n == 8)
            for (; k + 8 <= kc; k += 8) transpose8(s + (long) k * ld, ld, d + k, kc);
        for (; k < kc; k++)
            for (int r = 0; r < n; r++) d[(long) r * kc + k] = s[r + (long) k * ld];
        for (int r = n; r < mr; r++)
            for (int j = 0; j < kc; j++) d[(long) r * kc + j] = 0.0f;
    }
}

/*
 * kiln_f32_pack_bt: one B panel with b(k, j) at src[k + j*ld] (a Linear layer's x W^T: W's rows
 * are B's columns) into the k-major panel the tiles read: dst[k*NR + j] = b(k, j) for j < cols
 * (cols <= NR), zero for cols <= j < NR.
 */
TARGET void kiln_f32_pack_bt(const float *src, long ld, int kc, int cols, float *dst) {
    int k = 0;
    if (cols == NR)
        for (; k + 8 <= kc; k += 8)
            for (int jb = 0; jb < NR; jb += 8) transpose8(src + (long) jb * ld + k, ld, dst + (long) k * NR + jb, NR);
    for (; k < kc; k++) {
        for (int j = 0; j < cols; j++) dst[(long) k * NR + j] = src[k + (long) j * ld];
        for (int j = cols; j < NR; j++) dst[(long) k * NR + j] = 0.0f;
    }
}
