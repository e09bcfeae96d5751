/*
 * Kiln's native implicit-GEMM convolution step (AVX-512), called from Java through the FFM API by
 * dev.kiln.backend.cpu.ConvImplicit when the library is present: one work unit, that is a run of
 * output-pixel tiles (6 or 7 pixels each) times one panel of 32 output channels, over every tap
 * in blocks of kc taps. Per tap it loads the panel's two weight vectors and broadcasts one input
 * value per pixel (one fma per pixel and vector), exactly as ConvImplicit.kernel does in the
 * Vector API, in the same order from the same starting values, so the results are bit for bit
 * the same. What the Java kernel cannot do is reach the FMA units' rate: C2 keeps a bounds check
 * per broadcast (merged only for the constant-offset variants) and re-derives the addresses; the
 * kernel alone measured 111-112 GFLOP/s on one Zen 4 core here against 83-95 for ConvImplicit's
 * whole unit loop in the Vector API (docs/BENCHMARKS.md, round 8).
 */
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,fma")))
#define NR 32

/* Taps [k0, k1) of one tile of MR pixels (window offsets base[0..MR)) into acc[r*NR + j], started
 * from src[r*ss + j] (ss = 0: the bias for every pixel). */
static inline __attribute__((always_inline)) TARGET void tile(const int MR, const float *xq, const int *base,
        const int *taps, int k0, int k1, const float *w, const float *src, int ss, float *acc) {
    __m512 c0[7], c1[7];
    const float *xp[7];
#pragma GCC unroll 7
    for (int r = 0; r < MR; r++) {
        c0[r] = _mm512_loadu_ps(src + r * ss);
        c1[r] = _mm512_loadu_ps(src + r * ss + 16);
        xp[r] = xq + base[r];
    }
    const float *wk = w + (long) k0 * NR;
    for (int k = k0; k < k1; k++, wk += NR) {
        int tk = taps[k];
        __m512 w0 = _mm512_loadu_ps(wk), w1 = _mm512_loadu_ps(wk + 16);
#pragma GCC unroll 7
        for (int r = 0; r < MR; r++) {
            __m512 v = _mm512_set1_ps(xp[r][tk]);
            c0[r] = _mm512_fmadd_ps(v, w0, c0[r]);
            c1[r] = _mm512_fmadd_ps(v, w1, c1[r]);
        }
    }
#pragma GCC unroll 7
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(acc + r * NR, c0[r]);
        _mm512_storeu_ps(acc + r * NR + 16, c1[r]);
    }
}

/*
 * One work unit: for each block [k0, k0 + kc) of the nt taps, for each of the ntiles tiles of mr
 * pixels (window offsets base[t*mr + r] in xq), acc[(t*mr + r)*NR + j] += sum over the block of
 * xq[base + taps[k]] * w[k*NR + j], the first block starting from bias[j]. w: the panel's packed
 * weights [nt][NR]; mr: 6 or 7.
 */
TARGET void kiln_f32_conv_unit(const float *xq, const float *w, const int *taps, int nt, int kc,
                               const int *base, int ntiles, int mr, const float *bias, float *acc) {
    for (int k0 = 0; k0 < nt; k0 += kc) {
        int k1 = k0 + kc < nt ? k0 + kc : nt;
        for (int t = 0; t < ntiles; t++) {
            float *a = acc + (long) t * mr * NR;
            const float *src = k0 == 0 ? bias : a;
            int ss = k0 == 0 ? 0 : NR;
            if (mr == 7) tile(7, xq, base + t * 7, taps, k0, k1, w, src, ss, a);
            else tile(6, xq, base + t * 6, taps, k0, k1, w, src, ss, a);
        }
    }
}
