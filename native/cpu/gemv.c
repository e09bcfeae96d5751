/*
 * Kiln's native F32 row-streaming GEMV step (AVX-512), called from Java through the FFM API by
 * dev.kiln.backend.cpu.GemmF32Gemv when the library is present: acc[j] = sum over rows p of
 * x[p] * b[p][j], one fma per term in row order, eight rows per pass over the accumulator row.
 * It does what GemmF32Gemv.streamRows does in the Vector API, bit for bit (the same fma chain per
 * element; the masked tail is the same fma lane by lane), without the per-load bounds checks of
 * MemorySegment access, which cost the Java loop 10-20% against OpenBLAS's sgemv.
 */
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,fma")))

static inline __mmask16 tail_mask(int count) { return (__mmask16) ((1u << count) - 1); }

/* acc[0:w] = sum_{p < rows} x[p] * b[p * rs + j] (b, x at the first row; acc zeroed here); prefetch: B comes from DRAM. */
TARGET void kiln_f32_gemv_rows(const float *b, long rs, const float *x, int rows, float *acc, int w, int prefetch) {
    int full = w & ~15;
    __mmask16 m = tail_mask(w - full);
    for (int j = 0; j < full; j += 16) _mm512_storeu_ps(acc + j, _mm512_setzero_ps());
    if (m) _mm512_mask_storeu_ps(acc + full, m, _mm512_setzero_ps());
    int p = 0;
    for (; p + 8 <= rows; p += 8) {
        const float *r = b + p * rs;
        __m512 v0 = _mm512_set1_ps(x[p]), v1 = _mm512_set1_ps(x[p + 1]), v2 = _mm512_set1_ps(x[p + 2]);
        __m512 v3 = _mm512_set1_ps(x[p + 3]), v4 = _mm512_set1_ps(x[p + 4]), v5 = _mm512_set1_ps(x[p + 5]);
        __m512 v6 = _mm512_set1_ps(x[p + 6]), v7 = _mm512_set1_ps(x[p + 7]);
        /* the next eight rows, same columns, into L2 when B streams from DRAM (Zen 4, one core: 24 -> 29 GB/s;
           from the L3 the extra loads cost 10-25%, so the caller says which) */
        int pf = prefetch && p + 16 <= rows;
        for (int j = 0; j < full; j += 16) {
            if (pf) for (int q = 8; q < 16; q++) _mm_prefetch((const char *) (r + q * rs + j), _MM_HINT_T1);
            __m512 s = _mm512_loadu_ps(acc + j);
            s = _mm512_fmadd_ps(v0, _mm512_loadu_ps(r + j), s);
            s = _mm512_fmadd_ps(v1, _mm512_loadu_ps(r + rs + j), s);
            s = _mm512_fmadd_ps(v2, _mm512_loadu_ps(r + 2 * rs + j), s);
            s = _mm512_fmadd_ps(v3, _mm512_loadu_ps(r + 3 * rs + j), s);
            s = _mm512_fmadd_ps(v4, _mm512_loadu_ps(r + 4 * rs + j), s);
            s = _mm512_fmadd_ps(v5, _mm512_loadu_ps(r + 5 * rs + j), s);
            s = _mm512_fmadd_ps(v6, _mm512_loadu_ps(r + 6 * rs + j), s);
            s = _mm512_fmadd_ps(v7, _mm512_loadu_ps(r + 7 * rs + j), s);
            _mm512_storeu_ps(acc + j, s);
        }
        if (m) {
            __m512 s = _mm512_maskz_loadu_ps(m, acc + full);
            for (int q = 0; q < 8; q++)
                s = _mm512_fmadd_ps(_mm512_set1_ps(x[p + q]), _mm512_maskz_loadu_ps(m, r + q * rs + full), s);
            _mm512_mask_storeu_ps(acc + full, m, s);
        }
    }
    for (; p < rows; p++) {
        const float *r = b + p * rs;
        __m512 v = _mm512_set1_ps(x[p]);
        for (int j = 0; j < full; j += 16)
            _mm512_storeu_ps(acc + j, _mm512_fmadd_ps(v, _mm512_loadu_ps(r + j), _mm512_loadu_ps(acc + j)));
        if (m) _mm512_mask_storeu_ps(acc + full, m, _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, r + full), _mm512_maskz_loadu_ps(m, acc + full)));
    }
}

/*
 * out[r] = a[r] . x for rows r < rows (a multiple of 4; row stride lda floats), as
 * GemmF32Gemv.dot4 computes it bit for bit: per row two accumulators over chunks of 32 floats
 * (fma(a, x, s)), added as vectors, their lanes summed in lane order in double, rounded to float,
 * then the tail k % 32 elements with scalar fmas. Eight rows at a time (eight streams in flight),
 * the next eight prefetched into L2 at the same offsets when the caller says A comes from DRAM
 * (prefetch): one Zen 4 core read a 2048-wide weight
 * from DRAM at 16-17 GB/s four rows at a time, 21 eight at a time, 27.5-28.4 with the prefetch.
 * The per-row arithmetic does not depend on how many rows run together.
 */
static inline TARGET float dot_finish(__m512 s, const float *row, const float *x, int p, int k) {
    float l[16];
    _mm512_storeu_ps(l, s);
    double t = 0;
    for (int i = 0; i < 16; i++) t += l[i];
    float d = (float) t;
    for (; p < k; p++) d = __builtin_fmaf(row[p], x[p], d);
    return d;
}

/* rows R of a at once (R accumulator pairs), as dot4 computes each row */
#define DOTS(R)                                                                                  \
    static inline __attribute__((always_inline)) TARGET void dots_##R(const float *a, long lda,  \
                                                                      const float *x, int k, float *out, \
                                                                      const float *nxt) {        \
        __m512 s0[R], s1[R];                                                                     \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) { s0[i] = _mm512_setzero_ps(); s1[i] = s0[i]; } \
        int p = 0;                                                                               \
        for (; p + 32 <= k; p += 32) {                                                           \
            if (nxt) _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                       \
                _mm_prefetch((const char *) (nxt + i * lda + p), _MM_HINT_T1);                  \
                _mm_prefetch((const char *) (nxt + i * lda + p + 16), _MM_HINT_T1);             \
            }                                                                                    \
            __m512 x0 = _mm512_loadu_ps(x + p), x1 = _mm512_loadu_ps(x + p + 16);                \
            _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {                                \
                s0[i] = _mm512_fmadd_ps(_mm512_loadu_ps(a + i * lda + p), x0, s0[i]);            \
                s1[i] = _mm512_fmadd_ps(_mm512_loadu_ps(a + i * lda + p + 16), x1, s1[i]);       \
            }                                                                                    \
        }                                                                                        \
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++)                                      \
            out[i] = dot_finish(_mm512_add_ps(s0[i], s1[i]), a + i * lda, x, p, k);              \
    }
DOTS(4)
DOTS(8)

TARGET void kiln_f32_gemv_dots(const float *a, long lda, const float *x, int k, int rows, float *out, int prefetch) {
    int r = 0;
    for (; r + 8 <= rows; r += 8) dots_8(a + r * lda, lda, x, k, out + r, prefetch && r + 16 <= rows ? a + (r + 8) * lda : 0);
    for (; r + 4 <= rows; r += 4) dots_4(a + r * lda, lda, x, k, out + r, 0);
}
