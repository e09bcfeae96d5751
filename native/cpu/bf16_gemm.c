/*
 * Kiln's native bf16 GEMM for x86-64 CPUs with AVX512-BF16 (vdpbf16ps: 32 bf16 multiply-adds
 * into 16 f32 lanes per instruction), called from Java through the FFM API
 * (dev.kiln.backend.cpu.Bf16Gemm). The Java Vector API has no bf16 type or dot product, so this
 * is written in C; Bf16Gemm's Vector API kernel (bf16 values widened to f32, f32 FMA) stays the
 * fallback and the reference the tests compare this kernel with.
 *
 * c[m, n] (f32) = bf16(a[m, k]) x B, with f32 accumulation, where
 *   a: f32 rows (row stride lda floats), rounded to bf16 (nearest even) while packing;
 *   B: packed once by kiln_bf16_pack_b: blocks of 16 output columns; block jb holds, for each pair
 *      q of K (k = 2q, 2q+1), 16 column pairs (32 bf16 = 64 bytes): column l's pair at dword l.
 *      Block stride is 64 * kp bytes (kp = ceil(k / 2); an odd K is padded with zeros).
 * Micro-tiles: 8 rows x 3 blocks (24 accumulators + 3 B registers of the 32 zmm), K in chunks of
 * KC pairs so the tile's B panel (3 x 64 x KC bytes = 24 KB) stays in L1 while 8-row panels of
 * the packed A stream past. The result does not depend on how the caller splits rows or blocks.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define KC 128
#define MR 8
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* 1 when this CPU can run the kernel. */
int kiln_cpu_has_avx512bf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

/* f32 -> bf16, round to nearest even; NaN stays a quiet NaN (as vcvtne2ps2bf16). */
static inline uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t) ((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t) (u >> 16);
}

/*
 * Packs B (k x n f32, element (p, j) at b[p * rs + j * cs]) into the layout above; out holds
 * ceil(n / 16) * kp * 32 uint16. Columns past n and the pad row of an odd k are zero.
 */
void kiln_bf16_pack_b(const float *b, long rs, long cs, int k, int n, uint16_t *out) {
    int kp = (k + 1) / 2, blocks = (n + 15) / 16;
    memset(out, 0, (size_t) blocks * kp * 64);
    for (int j = 0; j < n; j++) {
        uint16_t *col = out + (long) (j / 16) * kp * 32 + 2 * (j % 16);
        for (int p = 0; p < k; p++) col[(long) (p / 2) * 32 + (p & 1)] = bf16_of(b[p * rs + j * cs]);
    }
}

/* dst[0 : 2 kp] = bf16(src[0 : k]) (zero pad to an even length). */
static TARGET void pack_row(const float *src, int k, uint16_t *dst) {
    int p = 0;
    for (; p + 32 <= k; p += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + p + 16), _mm512_loadu_ps(src + p));
        _mm512_storeu_si512(dst + p, (__m512i) v);
    }
    if (p < k) {
        __mmask16 lo = (__mmask16) (k - p >= 16 ? 0xffff : (1u << (k - p)) - 1);
        __mmask16 hi = (__mmask16) (k - p <= 16 ? 0 : (k - p >= 32 ? 0xffff : (1u << (k - p - 16)) - 1));
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + p + 16), _mm512_maskz_loadu_ps(lo, src + p));
        int left = k - p + (k & 1);   /* whole pairs */
        _mm512_mask_storeu_epi16(dst + p, (__mmask32) (left >= 32 ? 0xffffffffu : (1u << left) - 1), (__m512i) v);
    }
}

/* Stores (or adds, unless first) an accumulator into rows < rows of c, the first `cols` columns (<= 16). */
static inline __attribute__((always_inline)) TARGET void store(float *dst, __m512 s, int first, __mmask16 mask) {
    if (!first) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mask, dst));
    _mm512_mask_storeu_ps(dst, mask, s);
}

#define DEF_MICRO(NB)                                                                               \
    static inline __attribute__((always_inline)) TARGET void micro_##NB(                           \
        const uint16_t *a, long lda, int rows, const uint16_t *b, long bstride, int kc, float *c,   \
        long ldc, int first, __mmask16 lastMask) {                                                  \
        __m512 acc[MR][NB];                                                                         \
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++)                                        \
            _Pragma("GCC unroll 3") for (int t = 0; t < NB; t++) acc[r][t] = _mm512_setzero_ps();   \
        for (int q = 0; q < kc; q++) {                                                              \
            __m512bh v[NB];                                                                         \
            _Pragma("GCC unroll 3") for (int t = 0; t < NB; t++)                                    \
                v[t] = (__m512bh) _mm512_loadu_si512(b + t * bstride + 32 * (long) q);               \
            _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {                                  \
                int32_t pair;                                                                       \
                memcpy(&pair, a + r * lda + 2 * (long) q, 4);                                       \
                __m512bh x = (__m512bh) _mm512_set1_epi32(pair);                                    \
                _Pragma("GCC unroll 3") for (int t = 0; t < NB; t++)                                \
                    acc[r][t] = _mm512_dpbf16_ps(acc[r][t], x, v[t]);                               \
            }                                                                                       \
        }                                                                                           \
        for (int r = 0; r < rows; r++)                                                              \
            _Pragma("GCC unroll 3") for (int t = 0; t < NB; t++)                                    \
                store(c + r * ldc + 16 * t, acc[r][t], first, t == NB - 1 ? lastMask : 0xffff);     \
    }

DEF_MICRO(3)
DEF_MICRO(2)
DEF_MICRO(1)

/*
 * c[0:m, 0:n] = bf16(a[0:m, 0:k]) x (blocks of bp), overwriting c; bp points at the first block of
 * this tile (ceil(n / 16) blocks of a B packed with kp pairs). ascratch holds ceil(m / 8) * 8 rows
 * of 2 * kp uint16: all of the tile's A, packed first, so every L1-resident B panel (one K chunk of
 * up to 3 blocks) serves all of the tile's rows before the next is loaded. Callers keep m to a
 * hundred or so rows (the packed A then stays in L2).
 */
TARGET void kiln_bf16_gemm(const float *a, long lda, int m, int k, const uint16_t *bp, int n,
                           float *c, long ldc, uint16_t *ascratch) {
    int kp = (k + 1) / 2, nb = (n + 15) / 16, panels = (m + MR - 1) / MR;
    long bstride = 32L * kp, apr = 2L * kp;       /* uint16 per B block, per packed A row */
    for (int r = 0; r < panels * MR; r++) {
        if (r < m) pack_row(a + r * lda, k, ascratch + r * apr);
        else memset(ascratch + r * apr, 0, (size_t) apr * 2);
    }
    for (int q0 = 0; q0 < kp; q0 += KC) {
        int kc = kp - q0 < KC ? kp - q0 : KC;
        for (int jb = 0; jb < nb; jb += 3) {
            int nbt = nb - jb < 3 ? nb - jb : 3;
            int lastCols = n - 16 * (jb + nbt - 1);
            __mmask16 mask = (__mmask16) (lastCols >= 16 ? 0xffff : (1u << lastCols) - 1);
            const uint16_t *bt = bp + jb * bstride + 32L * q0;
            for (int i0 = 0; i0 < m; i0 += MR) {
                int rows = m - i0 < MR ? m - i0 : MR;
                const uint16_t *at = ascratch + i0 * apr + 2L * q0;
                float *ct = c + i0 * ldc + 16 * jb;
                if (nbt == 3) micro_3(at, apr, rows, bt, bstride, kc, ct, ldc, q0 == 0, mask);
                else if (nbt == 2) micro_2(at, apr, rows, bt, bstride, kc, ct, ldc, q0 == 0, mask);
                else micro_1(at, apr, rows, bt, bstride, kc, ct, ldc, q0 == 0, mask);
            }
        }
    }
}

/*
 * One row: c[0:n] = bf16(a[0:k]) x (blocks of bp), overwriting c (a decode step, bound by reading
 * B). The GEMM kernel above computes eight rows per tile, seven of them padding here, and walks B
 * K chunk by K chunk; this one streams NB column blocks side by side over all of K (NB streams of
 * misses in flight) and sums exactly as the GEMM does: per chunk of KC pairs into a fresh
 * accumulator, the chunks added in order, so its bits equal the GEMM's for m = 1. ascratch holds
 * 2 * kp uint16 (the packed row).
 */
#define DEF_GEMV(NB)                                                                                \
    static inline __attribute__((always_inline)) TARGET void gemv_##NB(                            \
        const uint16_t *a, const uint16_t *b, long bstride, int kp, float *c, __mmask16 lastMask) { \
        __m512 total[NB];                                                                           \
        _Pragma("GCC unroll 8") for (int t = 0; t < NB; t++) total[t] = _mm512_setzero_ps();        \
        for (int q0 = 0; q0 < kp; q0 += KC) {                                                       \
            int kc = kp - q0 < KC ? kp - q0 : KC;                                                   \
            __m512 acc[NB];                                                                         \
            _Pragma("GCC unroll 8") for (int t = 0; t < NB; t++) acc[t] = _mm512_setzero_ps();      \
            for (int q = q0; q < q0 + kc; q++) {                                                    \
                int32_t pair;                                                                       \
                memcpy(&pair, a + 2 * (long) q, 4);                                                 \
                __m512bh x = (__m512bh) _mm512_set1_epi32(pair);                                    \
                _Pragma("GCC unroll 8") for (int t = 0; t < NB; t++)                                \
                    acc[t] = _mm512_dpbf16_ps(acc[t], x,                                            \
                             (__m512bh) _mm512_loadu_si512(b + t * bstride + 32 * (long) q));       \
            }                                                                                       \
            _Pragma("GCC unroll 8") for (int t = 0; t < NB; t++)                                    \
                total[t] = q0 == 0 ? acc[t] : _mm512_add_ps(total[t], acc[t]);                      \
        }                                                                                           \
        _Pragma("GCC unroll 8") for (int t = 0; t < NB; t++)                                        \
            _mm512_mask_storeu_ps(c + 16 * t, t == NB - 1 ? lastMask : 0xffff, total[t]);           \
    }

DEF_GEMV(8)
DEF_GEMV(4)
DEF_GEMV(2)
DEF_GEMV(1)

TARGET void kiln_bf16_gemv(const float *a, int k, const uint16_t *bp, int n, float *c, uint16_t *ascratch) {
    int kp = (k + 1) / 2, nb = (n + 15) / 16;
    long bstride = 32L * kp;
    pack_row(a, k, ascratch);
    if (k & 1) ascratch[k] = 0;      /* the odd pair's upper half (pack_row pads with zeros: kept explicit) */
    for (int jb = 0; jb < nb; ) {
        int left = nb - jb, nbt = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        int lastCols = n - 16 * (jb + nbt - 1);
        __mmask16 mask = (__mmask16) (lastCols >= 16 ? 0xffff : (1u << lastCols) - 1);
        const uint16_t *bt = bp + jb * bstride;
        float *ct = c + 16 * jb;
        if (nbt == 8) gemv_8(ascratch, bt, bstride, kp, ct, mask);
        else if (nbt == 4) gemv_4(ascratch, bt, bstride, kp, ct, mask);
        else if (nbt == 2) gemv_2(ascratch, bt, bstride, kp, ct, mask);
        else gemv_1(ascratch, bt, bstride, kp, ct, mask);
        jb += nbt;
    }
}
