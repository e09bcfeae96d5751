/*
 * Kiln's native matrix-vector kernels for weight-only 4- and 8-bit weights (ONNX MatMulNBits with
 * accuracy_level 4) on x86-64 CPUs with AVX-512 VNNI, called from Java through the FFM API
 * (dev.kiln.backend.cpu.NBitsVnni). The activation row is quantized to int8 per sub-block of 32
 * (by the Java side), so each sub-block's dot product is exact integer arithmetic in vpdpbusd
 * (unsigned weight codes x signed activations, four products per int32 lane). The Java Vector API
 * has no such operation: decoding nibbles to floats bounds its kernel at ~7 GB/s of codes per
 * core on Zen 4, where this one streams codes at memory speed. dev.kiln.backend.cpu.NBitsVnni
 * holds the scalar Java twin, which gives the same bits (same integer sums, same float operations
 * in the same order), and tests compare the two.
 *
 * Layout (prepared once per weight by the Java side), nsub sub-blocks of 32 per column, nsub a
 * multiple of 4 (zero padding):
 *   4 bits: codes [cols][nsub][16]; byte j of a sub-block holds element j (low nibble) and element
 *           j + 16 (high nibble).
 *   8 bits: codes [cols][nsub][32], element order.
 *   ws [cols][nsub]: the weight scale of each sub-block; wz [cols][nsub]: scale * zero point.
 * Activations: 4 bits: xlo / xhi [nsub][16] int8 = elements 0..15 / 16..31 of each sub-block;
 *   8 bits: xq [nsub][32]; xs [nsub]: their scales; xsx [nsub]: xs * (sum of the sub-block's xq).
 * y[j] = sum_s ws*xs * dot_s - sum_s wz*xsx, where per group of 4 sub-blocks the integer dots are
 * converted and added into 16 float lanes (lane l of sub-block group g: fma(float(p_l), d_l, acc_l)),
 * and the corrections into 4 lanes; at the end the lanes are summed as a fixed tree (finish).
 * The weight streams are prefetched in software (the hardware prefetcher alone left a core at
 * about half of DRAM speed on this kernel).
 */
#include <immintrin.h>
#include <stdint.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vnni,fma")))

/* sum of the 16 lanes as a fixed tree: l + (l + 8), then + 4, + 2, + 1; minus the 4 corrections' (c + 2, then + 1) */
static inline TARGET float finish(__m512 acc, __m128 corr) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 c2 = _mm_add_ps(corr, _mm_movehl_ps(corr, corr));
    float t = _mm_cvtss_f32(s2) + _mm_cvtss_f32(_mm_shuffle_ps(s2, s2, 1));
    float u = _mm_cvtss_f32(c2) + _mm_cvtss_f32(_mm_shuffle_ps(c2, c2, 1));
    return t - u;
}

/*
 * Software prefetch distances in bytes (codes; the scales, read at a quarter of the rate (4 bits) or
 * an eighth (8 bits), a quarter of it): measured on Zen 4, one core, 4-bit weights streaming from
 * DRAM: 14 GB/s without, 15-25 GB/s at 2048 (1024: 17, 4096: 19). Handling four columns at once
 * (sharing the activation loads) was slower from DRAM (7.5-16 GB/s) and no faster from cache.
 */
#define PF 2048

static inline TARGET void prefetch(const void *p) { _mm_prefetch((const char *) p, _MM_HINT_T0); }

/*
 * y[r * ldy + j] for columns j < cols and up to 8 activation rows r < rows at once (a batch of
 * decode steps): each weight column is read once for all rows. Row r's activations start at
 * xlo / xhi + r * nsub * 16 (4 bits) or xq + r * nsub * 32 (8 bits) and xs / xsx + r * nsub.
 * Every row's arithmetic is the same whatever the number of rows, so the single-row entry points
 * (rows = 1, inlined with the count constant) give the same bits as a row of a batch.
 */
static inline __attribute__((always_inline)) TARGET void q4_rows(const uint8_t *codes, const float *ws, const float *wz, int nsub,
        const int8_t *xlo, const int8_t *xhi, const float *xs, const float *xsx, const int rows, int cols, float *y, long ldy) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    long xstride = 16L * nsub;
    for (int j = 0; j < cols; j++) {
        long col = (long) j * nsub;
        __m512 acc[8];
        __m128 corr[8];
        for (int r = 0; r < rows; r++) {
            acc[r] = _mm512_setzero_ps();
            corr[r] = _mm_setzero_ps();
        }
        for (int q = 0; q < nsub; q += 4) {
            const uint8_t *c = codes + 16 * (col + q);
            prefetch(c + PF);
            prefetch((const char *) (ws + col + q) + PF / 4);
            prefetch((const char *) (wz + col + q) + PF / 4);
            __m512i v = _mm512_loadu_si512(c);
            __m512i lo = _mm512_and_si512(v, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            __m128 w4 = _mm_loadu_ps(ws + col + q), z4 = _mm_loadu_ps(wz + col + q);
            for (int r = 0; r < rows; r++) {
                __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(xlo + r * xstride + 16 * q));
                p = _mm512_dpbusd_epi32(p, hi, _mm512_loadu_si512(xhi + r * xstride + 16 * q));
                __m512 d = _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_mul_ps(w4, _mm_loadu_ps(xs + (long) r * nsub + q))));
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc[r]);
                corr[r] = _mm_fmadd_ps(z4, _mm_loadu_ps(xsx + (long) r * nsub + q), corr[r]);
            }
        }
        for (int r = 0; r < rows; r++) y[r * ldy + j] = finish(acc[r], corr[r]);
    }
}

/* 8 bits: per group of 4 sub-blocks, two 64-byte dots (sub-blocks 0-1, then 2-3); otherwise as q4_rows. */
static inline __attribute__((always_inline)) TARGET void q8_rows(const uint8_t *codes, const float *ws, const float *wz, int nsub,
        const int8_t *xq, const float *xs, const float *xsx, const int rows, int cols, float *y, long ldy) {
    const __m512i idx0 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i idx1 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
    long xstride = 32L * nsub;
    for (int j = 0; j < cols; j++) {
        long col = (long) j * nsub;
        __m512 acc[8];
        __m128 corr[8];
        for (int r = 0; r < rows; r++) {
            acc[r] = _mm512_setzero_ps();
            corr[r] = _mm_setzero_ps();
        }
        for (int q = 0; q < nsub; q += 4) {
            const uint8_t *c = codes + 32 * (col + q);
            prefetch(c + PF);
            prefetch(c + PF + 64);
            prefetch((const char *) (ws + col + q) + PF / 4);
            prefetch((const char *) (wz + col + q) + PF / 4);
            __m512i c0 = _mm512_loadu_si512(c), c1 = _mm512_loadu_si512(c + 64);
            __m128 w4 = _mm_loadu_ps(ws + col + q), z4 = _mm_loadu_ps(wz + col + q);
            for (int r = 0; r < rows; r++) {
                const int8_t *x = xq + r * xstride + 32 * q;
                __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c0, _mm512_loadu_si512(x));
                __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c1, _mm512_loadu_si512(x + 64));
                __m512 d4 = _mm512_castps128_ps512(_mm_mul_ps(w4, _mm_loadu_ps(xs + (long) r * nsub + q)));
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), _mm512_permutexvar_ps(idx0, d4), acc[r]);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), _mm512_permutexvar_ps(idx1, d4), acc[r]);
                corr[r] = _mm_fmadd_ps(z4, _mm_loadu_ps(xsx + (long) r * nsub + q), corr[r]);
            }
        }
        for (int r = 0; r < rows; r++) y[r * ldy + j] = finish(acc[r], corr[r]);
    }
}

/* y[0:cols] for 4-bit codes (see the layout above). */
TARGET void kiln_q4_gemv(const uint8_t *codes, const float *ws, const float *wz, int nsub,
                         const int8_t *xlo, const int8_t *xhi, const float *xs, const float *xsx,
                         int cols, float *y) {
    q4_rows(codes, ws, wz, nsub, xlo, xhi, xs, xsx, 1, cols, y, 0);
}

/* y[0:cols] for 8-bit codes. */
TARGET void kiln_q8_gemv(const uint8_t *codes, const float *ws, const float *wz, int nsub,
                         const int8_t *xq, const float *xs, const float *xsx, int cols, float *y) {
    q8_rows(codes, ws, wz, nsub, xq, xs, xsx, 1, cols, y, 0);
}

/* Up to 8 rows at once (see q4_rows). */
TARGET void kiln_q4_gemv_rows(const uint8_t *codes, const float *ws, const float *wz, int nsub,
                              const int8_t *xlo, const int8_t *xhi, const float *xs, const float *xsx,
                              int rows, int cols, float *y, long ldy) {
    q4_rows(codes, ws, wz, nsub, xlo, xhi, xs, xsx, rows, cols, y, ldy);
}

/* Up to 8 rows at once (see q8_rows). */
TARGET void kiln_q8_gemv_rows(const uint8_t *codes, const float *ws, const float *wz, int nsub,
                              const int8_t *xq, const float *xs, const float *xsx, int rows, int cols, float *y, long ldy) {
    q8_rows(codes, ws, wz, nsub, xq, xs, xsx, rows, cols, y, ldy);
}

/*
 * The activation row's quantization for the kernels above (NBitsVnni.quantize is its Java twin,
 * the same bits): per sub-block s of 32 values of x (values at k and beyond count as zeros),
 * amax = max |x|, xs = amax / 127, q = x * (127 / amax) rounded to nearest even and clamped to
 * [-127, 127] (q = 0 where amax = 0), xsx = (xs * sum q) * zpmul. A NaN in a sub-block makes its
 * xs NaN (the outputs it reaches are NaN, never a silently finite sum; q is then not compared). 4 bits: q[0..15] to xa + 16 s,
 * q[16..31] to xb + 16 s; 8 bits: q[0..31] to xa + 32 s (xb unused).
 */
TARGET void kiln_nbits_quant_acts(const float *x, int k, int nsub, int bits, float zpmul,
                                  int8_t *xa, int8_t *xb, float *xs, float *xsx) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    const __m512i hi = _mm512_set1_epi32(127), lo = _mm512_set1_epi32(-127);
    for (int s = 0; s < nsub; s++) {
        int n = k - 32 * s;
        n = n < 0 ? 0 : n > 32 ? 32 : n;
        __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16) ((1u << n) - 1);
        __mmask16 m1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16) ((1u << (n - 16)) - 1) : 0;
        __m512 v0 = _mm512_maskz_loadu_ps(m0, x + 32L * s), v1 = _mm512_maskz_loadu_ps(m1, x + 32L * s + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, sign), _mm512_and_ps(v1, sign)));
        if (_mm512_cmp_ps_mask(v0, v0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q)) amax = __builtin_nanf("");
        float scale = amax / 127.f, inv = amax == 0 ? 0.f : 127.f / amax;
        __m512 vi = _mm512_set1_ps(inv);
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vi)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vi));
        q0 = _mm512_max_epi32(lo, _mm512_min_epi32(hi, q0));
        q1 = _mm512_max_epi32(lo, _mm512_min_epi32(hi, q1));
        int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        if (bits == 4) {
            _mm_storeu_si128((__m128i *) (xa + 16L * s), _mm512_cvtepi32_epi8(q0));
            _mm_storeu_si128((__m128i *) (xb + 16L * s), _mm512_cvtepi32_epi8(q1));
        } else {
            _mm_storeu_si128((__m128i *) (xa + 32L * s), _mm512_cvtepi32_epi8(q0));
            _mm_storeu_si128((__m128i *) (xa + 32L * s + 16), _mm512_cvtepi32_epi8(q1));
        }
        xs[s] = scale;
        xsx[s] = (scale * (float) sum) * zpmul;
    }
}
