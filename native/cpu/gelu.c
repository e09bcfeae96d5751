/*
 * Kiln's exact (erf) GELU and erf for F32 rows (AVX-512), called through the FFM API by
 * dev.kiln.backend.cpu.ElemUnary where the library is present. Why native: the Vector API form
 * (ElemVecF32.geluT/geluExpLo/geluExp/geluFinish and the erf twins) must run as three passes over
 * L1 scratch buffers, because C2 stops inlining a loop that holds the whole formula (~18K IR nodes;
 * the vectors then get boxed): every element is stored and reloaded four extra times. Here the
 * formula is one loop in registers. Each step is the same IEEE operation, in the same order, as the
 * Java passes (fma where they use fma), so the results are bit for bit theirs (ElemNativeTest).
 * Rows are processed 16 lanes at a time; the caller finishes a tail shorter than a vector.
 */
#include <immintrin.h>

#include "vexp.h"

#define TARGET __attribute__((target("avx512f")))
#define C(v) _mm512_set1_ps(v)

/* ElemVecF32.erfcPoly: the exponent correction of erfc, u = t - 7/12. */
static inline __attribute__((always_inline)) TARGET __m512 erfc_poly(__m512 u) {
    __m512 p = _mm512_fmadd_ps(u, C(-0.138219625f), C(0.145551771f));
    p = _mm512_fmadd_ps(p, u, C(0.140089244f));
    p = _mm512_fmadd_ps(p, u, C(-0.245304585f));
    p = _mm512_fmadd_ps(p, u, C(-0.0523099303f));
    p = _mm512_fmadd_ps(p, u, C(0.295243204f));
    p = _mm512_fmadd_ps(p, u, C(-0.0347147472f));
    p = _mm512_fmadd_ps(p, u, C(-0.407399386f));
    p = _mm512_fmadd_ps(p, u, C(0.09069217f));
    p = _mm512_fmadd_ps(p, u, C(1.3687371f));
    return _mm512_fmadd_ps(p, u, C(-0.558595359f));
}

/* ElemVecF32.expSum: e^(a + b), k from a + b, b added to the reduced argument; 0 below, inf above. */
static inline __attribute__((always_inline)) TARGET __m512 exp_sum(__m512 a, __m512 b) {
    a = _mm512_max_ps(C(-90.0f), a);                          /* max(c, a) keeps a NaN a, as Java's max */
    __m512 u = _mm512_add_ps(a, b), t;
    __m512 r = _mm512_add_ps(kiln_exp_reduce(u, a, &t), b);
    return kiln_exp_range(kiln_exp_scale(r, t), u);
}

static inline __attribute__((always_inline)) TARGET __m512 absf(__m512 x) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}

/* x Phi(x): ElemVecF32.geluT, geluExpLo, geluExp, geluFinish. */
static inline __attribute__((always_inline)) TARGET __m512 gelu16(__m512 x) {
    __m512 t = _mm512_div_ps(C(1.0f), _mm512_fmadd_ps(absf(x), C(0.353553391f), C(1.0f)));
    __m512 xx = _mm512_mul_ps(x, x);
    __m512 nxx = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(xx), _mm512_set1_epi32((int) 0x80000000)));
    __m512 lo = _mm512_fmadd_ps(x, x, nxx);                                /* x*x = xx + lo exactly */
    __m512 elo = _mm512_fmadd_ps(lo, C(-0.5f), erfc_poly(_mm512_sub_ps(t, C(0.583333313f))));
    __m512 e = exp_sum(_mm512_mul_ps(xx, C(-0.5f)), elo);
    __m512 half = _mm512_mul_ps(_mm512_mul_ps(t, e), C(0.5f));
    __mmask16 pos = _mm512_cmp_ps_mask(x, C(0.0f), _CMP_GT_OQ), big = _mm512_cmp_ps_mask(x, C(6.0f), _CMP_GT_OQ);
    __m512 r = _mm512_mul_ps(x, _mm512_mask_mov_ps(half, pos, _mm512_sub_ps(C(1.0f), half)));
    return _mm512_mask_mov_ps(r, big, x);
}

/* o[i] = gelu(x[i]) for i < n, n a multiple of 16. */
TARGET void kiln_f32_gelu(const float *x, float *o, long n) {
    for (long i = 0; i < n; i += 16) _mm512_storeu_ps(o + i, gelu16(_mm512_loadu_ps(x + i)));
}

/* ElemVecF32.exp: e^x, computed on over the whole range, then 0 below -87.33 and inf above 88.73. */
static inline __attribute__((always_inline)) TARGET __m512 exp16b(__m512 x) {
    __m512 t, r = kiln_exp_reduce(x, x, &t);
    return kiln_exp_range(kiln_exp_scale(r, t), x);
}

/* The tanh GELU x / (1 + e^w), w = -2 sqrt(2/pi) (x + 0.044715 x^3): ElemVecF32.geluTanhArg, xOverOnePlusExp. */
static inline __attribute__((always_inline)) TARGET __m512 gelu_tanh16(__m512 x) {
    __m512 w = _mm512_mul_ps(_mm512_mul_ps(_mm512_fmadd_ps(_mm512_mul_ps(x, x), C(0x1.6e4e26p-5f), C(1.0f)), x), C(-0x1.988454p0f));
    return _mm512_div_ps(x, _mm512_add_ps(exp16b(w), C(1.0f)));
}

/* o[i] = gelu_tanh(x[i]) for i < n, n a multiple of 16. */
TARGET void kiln_f32_gelu_tanh(const float *x, float *o, long n) {
    for (long i = 0; i < n; i += 16) _mm512_storeu_ps(o + i, gelu_tanh16(_mm512_loadu_ps(x + i)));
}
