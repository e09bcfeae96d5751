/*
 * The pieces of ElemVecF32's e^x shared by native/cpu/elementwise.c (exp, softmax) and gelu.c (GELU's
 * exp of a split argument, tanh GELU's exp), so that every native e^x is the same operations in the
 * same order as the Java kernels (their tests compare bit for bit):
 *   kiln_exp_reduce: t = kArg log2 e + MAGIC (k rounded into t's low bits), r = base - k ln2 (ln 2 in two
 *                    parts, LN2_LO < 0);
 *   kiln_exp_scale:  (1 + r + r^2 P(r)) times 2^(k-1) times 2;
 *   kiln_exp_range:  0 where u < -87.33, inf where u > 88.73 (the blend form; elementwise.c's exp
 *                    clamps its argument instead, which gives the same bits over the range it serves).
 */
#ifndef KILN_VEXP_H
#define KILN_VEXP_H

#include <immintrin.h>

#define KILN_EXP_TARGET __attribute__((always_inline, target("avx512f")))

static inline KILN_EXP_TARGET __m512 kiln_exp_reduce(__m512 kArg, __m512 base, __m512 *t) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    *t = _mm512_fmadd_ps(kArg, _mm512_set1_ps(1.44269502f), magic);
    __m512 kf = _mm512_sub_ps(*t, magic);
    __m512 r = _mm512_fmadd_ps(kf, _mm512_set1_ps(-0.693147182f), base);
    return _mm512_fmadd_ps(kf, _mm512_set1_ps(1.90465421e-09f), r);
}

static inline KILN_EXP_TARGET __m512 kiln_exp_scale(__m512 r, __m512 t) {
    __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(0.00138146104f), _mm512_set1_ps(0.00836871006f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.041668389f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.166665211f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.49999994f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r), _mm512_set1_ps(1.0f));
    __m512i s = _mm512_add_epi32(_mm512_slli_epi32(_mm512_castps_si512(t), 23), _mm512_set1_epi32(126 << 23));
    return _mm512_mul_ps(_mm512_mul_ps(p, _mm512_castsi512_ps(s)), _mm512_set1_ps(2.0f));
}

static inline KILN_EXP_TARGET __m512 kiln_exp_range(__m512 e, __m512 u) {
    __mmask16 under = _mm512_cmp_ps_mask(u, _mm512_set1_ps(-87.33f), _CMP_LT_OQ), over = _mm512_cmp_ps_mask(u, _mm512_set1_ps(88.73f), _CMP_GT_OQ);
    e = _mm512_mask_mov_ps(e, under, _mm512_setzero_ps());
    return _mm512_mask_mov_ps(e, over, _mm512_set1_ps(__builtin_inff()));
}

#endif
