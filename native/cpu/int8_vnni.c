/*
 * Kiln's native int8 GEMM tile for x86-64 CPUs with AVX-512 VNNI (vpdpbusd), called from Java
 * through the FFM API (dev.kiln.compress.quant.Int8VnniKernel). The Java Vector API has no int8
 * dot-product operation, so this is the one CPU kernel Kiln writes in C; the portable Vector API
 * kernel (Int8GemmKernel) stays the fallback and the reference it is tested against.
 *
 * Operands (packed by the Java side):
 *   a: int8 rows, row stride lda bytes, K padded with zeros to a multiple of 4 (k4 groups of 4);
 *   b: the weights as unsigned bytes b + 128, in blocks of 16 output columns; block jb holds, for
 *      each group q of 4 along K, 64 bytes: column l's 4 bytes at offset 4 l. Block stride is
 *      64 * k4 bytes.
 * Result: c[i * ldc + 16 jb + l] = sum_p a[i][p] * (b[jb*16+l][p] + 128) - fix[i], exact in int32;
 * with fix[i] = 128 * rowsum(a[i]) (kiln_i8_rowsums) that is sum_p a[i][p] b[jb*16+l][p]. vpdpbusd multiplies unsigned (b) by signed (a)
 * bytes and adds groups of 4 products into int32 lanes without intermediate saturation.
 *
 * Micro-tiles of up to 8 rows x 2 blocks (16 accumulators + 2 B registers of the 32 zmm), with K
 * in chunks of KC groups so a two-block B panel (2 x 64 x KC bytes) stays in L1.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define KC 128
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* 1 when this CPU can run the kernel. */
int kiln_cpu_has_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vnni");
}

static inline int32_t load4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* MR rows x NB (1 or 2) blocks over groups [0, kc); adds into c unless first. */
#define DEF_MICRO(MR, NB)                                                                        \
    static inline __attribute__((always_inline)) TARGET void micro_##MR##x##NB(                  \
        const int8_t *a, long lda, const uint8_t *b0, const uint8_t *b1, int kc, int32_t *c,     \
        long ldc, int first, const int32_t *fix) {                                               \
        __m512i acc[MR][NB];                                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++)                                     \
            _Pragma("GCC unroll 2") for (int t = 0; t < NB; t++) acc[r][t] = _mm512_setzero_si512(); \
        for (int q = 0; q < kc; q++) {                                                           \
            __m512i v[NB];                                                                       \
            v[0] = _mm512_loadu_si512(b0 + 64 * (long) q);                                       \
            if (NB > 1) v[NB - 1] = _mm512_loadu_si512(b1 + 64 * (long) q);                      \
            _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {                               \
                __m512i x = _mm512_set1_epi32(load4(a + r * lda + 4 * (long) q));                \
                _Pragma("GCC unroll 2") for (int t = 0; t < NB; t++)                             \
                    acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], v[t], x);                         \
            }                                                                                    \
        }                                                                                        \
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++)                                     \
            _Pragma("GCC unroll 2") for (int t = 0; t < NB; t++) {                               \
                int32_t *dst = c + r * ldc + 16 * t;                                             \
                __m512i s = acc[r][t];                                                           \
                s = first ? _mm512_sub_epi32(s, _mm512_set1_epi32(fix[r]))                       \
                          : _mm512_add_epi32(s, _mm512_loadu_si512(dst));                        \
                _mm512_storeu_si512(dst, s);                                                     \
            }                                                                                    \
    }

DEF_MICRO(8, 2)
DEF_MICRO(4, 2)
DEF_MICRO(1, 2)
DEF_MICRO(8, 1)
DEF_MICRO(4, 1)
DEF_MICRO(1, 1)

/* Rows [0, m) x blocks of one pair (nb = 1 or 2) over groups [q0, q0 + kc). */
static TARGET void rows(const int8_t *a, long lda, int m, const uint8_t *b0, const uint8_t *b1, int nb,
                        int kc, int32_t *c, long ldc, int first, const int32_t *fix) {
    int i = 0;
    if (nb == 2) {
        for (; i + 8 <= m; i += 8) micro_8x2(a + i * lda, lda, b0, b1, kc, c + i * ldc, ldc, first, fix + i);
        for (; i + 4 <= m; i += 4) micro_4x2(a + i * lda, lda, b0, b1, kc, c + i * ldc, ldc, first, fix + i);
        for (; i < m; i++) micro_1x2(a + i * lda, lda, b0, b1, kc, c + i * ldc, ldc, first, fix + i);
    } else {
        for (; i + 8 <= m; i += 8) micro_8x1(a + i * lda, lda, b0, b0, kc, c + i * ldc, ldc, first, fix + i);
        for (; i + 4 <= m; i += 4) micro_4x1(a + i * lda, lda, b0, b0, kc, c + i * ldc, ldc, first, fix + i);
        for (; i < m; i++) micro_1x1(a + i * lda, lda, b0, b0, kc, c + i * ldc, ldc, first, fix + i);
    }
}

/*
 * c [m, 16 nb] (row stride ldc ints) = a [m, 4 k4] x (blocks [0, nb) of b)^T - fix (per row),
 * overwriting c. a, b, c and fix point at the tile's first row / block / column / row.
 */
TARGET void kiln_i8_vnni_tile(const int8_t *a, long lda, int m, const uint8_t *b, int k4, int nb,
                              int32_t *c, long ldc, const int32_t *fix) {
    long blockStride = 64L * k4;
    for (int jb = 0; jb < nb; jb += 2) {
        int pair = nb - jb >= 2 ? 2 : 1;
        const uint8_t *b0 = b + jb * blockStride, *b1 = b0 + blockStride;
        for (int q0 = 0; q0 < k4; q0 += KC) {
            int kc = k4 - q0 < KC ? k4 - q0 : KC;
            rows(a + 4L * q0, lda, m, b0 + 64L * q0, b1 + 64L * q0, pair, kc, c + 16 * jb, ldc, q0 == 0, fix);
        }
    }
}

/*
 * out[i] = sum of row i of a [m, k] (int8, row stride lda bytes), exact in int32: vpdpbusd of a
 * vector of ones (unsigned) with 64 bytes of the row (signed) adds them in groups of 4; the tail
 * (k mod 64) is summed with a mask.
 */
TARGET void kiln_i8_rowsums(const int8_t *a, long lda, int m, int k, int32_t *out) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (int i = 0; i < m; i++) {
        const int8_t *row = a + i * lda;
        __m512i acc = _mm512_setzero_si512();
        int p = 0;
        for (; p + 64 <= k; p += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(row + p));
        if (p < k) {
            __mmask64 tail = (__mmask64) (~0ULL >> (64 - (k - p)));
            acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(tail, row + p));
        }
        out[i] = _mm512_reduce_add_epi32(acc);
    }
}

/*
 * DynamicQuantizeLinear's range: out[0] = min(0, min x), out[1] = max(0, max x) over n floats, or
 * NaN for both when x holds a NaN (dev.kiln.onnx.ops.QuantFast.range; -0 and +0 may come out
 * either way, which cannot change the scale or the zero point computed from them).
 */
TARGET void kiln_f32_quant_range(const float *x, long n, float *out) {
    __m512 lo = _mm512_setzero_ps(), hi = lo;
    __mmask16 nan = 0;
    for (long i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    out[0] = nan ? __builtin_nanf("") : _mm512_reduce_min_ps(lo);
    out[1] = nan ? __builtin_nanf("") : _mm512_reduce_max_ps(hi);
}

/*
 * Rows [0, rows) of x [rows, k] (row stride k floats) quantized as QuantFast.quantizeRows does,
 * a' = clamp(rint(x / scale) + shift, -128, 127) with shift = zero point - 128, in float: the
 * division, then (v + 1.5 * 2^23) - 1.5 * 2^23 (rint, half to even, exact for |v| < 2^22), the
 * shift and the clamp; a NaN gives 0. Into out (row stride k bytes), and each row's sum of a' into rowSum.
 */
TARGET void kiln_f32_quantize_rows(const float *x, long k, int rows, float scale, float shift, int8_t *out, int32_t *rowSum) {
    const __m512 s = _mm512_set1_ps(scale), round = _mm512_set1_ps(12582912.0f), sh = _mm512_set1_ps(shift);
    const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + r * k;
        int8_t *o = out + r * k;
        __m512i acc = _mm512_setzero_si512();
        for (long p = 0; p < k; p += 16) {
            __mmask16 m = k - p >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << (k - p)) - 1);
            __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, xr + p), s);
            v = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, round), round), sh);
            v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), lo);
            v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), hi);
            __m512i q = _mm512_maskz_cvttps_epi32(m & _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
            _mm512_mask_cvtepi32_storeu_epi8(o + p, m, q);
            acc = _mm512_add_epi32(acc, q);
        }
        rowSum[r] = _mm512_reduce_add_epi32(acc);
    }
}
