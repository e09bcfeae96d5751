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

/* Lanes [0, count) of a 16-lane group (all 16 when count >= 16). */
static inline __mmask16 tail16(long count) { return count >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << count) - 1); }

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
        __mmask16 m = tail16(n - i);
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
            __mmask16 m = tail16(k - p);
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

/*
 * Direct int8 convolution, stride 1, for dev.kiln.compress.quant.QuantizedConv2d: output pixels in
 * the 16 lanes, so each output row is written as it lies in [N, O, OH, OW]. Operands:
 *   in:  unsigned codes u = q + 128 per image [c4][plane][4]: channel group g (4 channels, the last
 *        group padded with any value) of padded pixel (y, x) at ((g * planeStride) + (y * wp + x) * 4);
 *        the border holds the zero point's code, so every output reads a full window; planes have
 *        room for the last vector of a row to read past the row (values unused);
 *   w:   signed int8 weights [o][kh][kw][c4][4] (padded channels 0);
 *   corr[j] = (128 + zero point) * sum of oc j's weights, so s - corr[j] = sum (q - zp) w, exact;
 *   out[b][j][y][x] = act((float) (s - corr[j]) * scale[j] + add[j]), act: ReLU when relu
 *   (QuantizedConv2d's requantization: the same float operations, so the same bits).
 * Tiles of 4 pixel vectors x 4 output channels (16 accumulators); one step per tap and channel
 * group: 4 loads of 64 bytes, 4 broadcast weight words, 16 vpdpbusd.
 */
#define CPV 4
#define COJ 4
/*
 * Int8Weights.quantize in 16 lanes: x / s, clamped to +-2^22, rounded half to even by adding and
 * subtracting 1.5 * 2^23, plus z, clamped to [lo, hi]; NaN gives 0. The code q as int32 lanes.
 */
static inline __attribute__((always_inline)) TARGET __m512i quant16q(__m512 v, __m512 s, __m512 z, __m512 lo, __m512 hi) {
    const __m512 magic = _mm512_set1_ps(12582912.0f), lim = _mm512_set1_ps(4194304.0f);
    v = _mm512_div_ps(v, s);
    v = _mm512_min_ps(lim, _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), lim), v));   /* (c, v): a NaN v passes, as Java's max/min */
    v = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), z);
    v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
    return _mm512_maskz_cvttps_epi32(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
}

/* quant16q as the unsigned code q + 128 (one byte per int32 lane), the direct conv's input form. */
static inline __attribute__((always_inline)) TARGET __m512i quant16(__m512 v, __m512 s, __m512 z, __m512 lo, __m512 hi) {
    return _mm512_and_si512(_mm512_add_epi32(quant16q(v, s, z, lo, hi), _mm512_set1_epi32(128)), _mm512_set1_epi32(0xff));
}

/* QuantizedConv2d's requantization of one accumulator vector: (float) (acc - corr) * scale + add, then ReLU when relu. */
static inline __attribute__((always_inline)) TARGET __m512 requant16(__m512i acc, int32_t corr, float scale, float add, int relu) {
    __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_set1_epi32(corr)));
    f = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(scale), f), _mm512_set1_ps(add));
    /* Math.max(v, 0): v where v > 0 or NaN, else +0 */
    return relu ? _mm512_mask_mov_ps(_mm512_setzero_ps(), _mm512_cmp_ps_mask(f, _mm512_setzero_ps(), _CMP_NLE_UQ), f) : f;
}

static inline __attribute__((always_inline)) TARGET void conv_direct(const int CODES, const int POOL, const uint8_t *in, long imgStride, long planeStride,
        int n, int c4, int wp, int oh, int ow, int kh, int kw, const int8_t *w, int o, const int32_t *corr,
        const float *scale, const float *add, int relu, float *out, const float *qp, int8_t *codes) {
    int vx = (ow + 15) / 16, nv = oh * vx, steps = kh * kw * c4, ph2 = oh / 2, pw2 = ow / 2;
    const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odds = _mm512_add_epi32(evens, _mm512_set1_epi32(1));
    const __m512 qs = _mm512_set1_ps(CODES ? qp[0] : 1.0f), qz = _mm512_set1_ps(CODES ? qp[1] : 0.0f);
    const __m512 qlo = _mm512_set1_ps(CODES ? qp[2] : 0.0f), qhi = _mm512_set1_ps(CODES ? qp[3] : 0.0f);
    for (int b = 0; b < n; b++) {
        const uint8_t *img = in + b * imgStride;
        long ob = (long) b * o * (POOL ? (long) ph2 * pw2 : (long) oh * ow);
        for (int v0 = 0; v0 < nv; v0 += CPV) {
            long base[CPV];
            int yv[CPV], xv[CPV];
            for (int i = 0; i < CPV; i++) {
                int v = v0 + i < nv ? v0 + i : nv - 1;          /* past the end: repeat the last vector, not stored */
                yv[i] = v / vx;
                xv[i] = (v % vx) * 16;
                base[i] = ((long) yv[i] * wp + xv[i]) * 4;
            }
            for (int j0 = 0; j0 < o; j0 += COJ) {
                const int8_t *wj[COJ];
                for (int t = 0; t < COJ; t++) wj[t] = w + (long) (j0 + t < o ? j0 + t : o - 1) * steps * 4;
                __m512i acc[CPV][COJ];
                for (int i = 0; i < CPV; i++)
                    for (int t = 0; t < COJ; t++) acc[i][t] = _mm512_setzero_si512();
                int s = 0;
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        long tap = ((long) ky * wp + kx) * 4;
                        for (int g = 0; g < c4; g++, s++) {
                            const uint8_t *src = img + g * planeStride + tap;
                            __m512i x[CPV], wv[COJ];
                            for (int i = 0; i < CPV; i++) x[i] = _mm512_loadu_si512(src + base[i]);
                            for (int t = 0; t < COJ; t++) wv[t] = _mm512_set1_epi32(load4(wj[t] + 4L * s));
                            for (int i = 0; i < CPV; i++)
                                for (int t = 0; t < COJ; t++) acc[i][t] = _mm512_dpbusd_epi32(acc[i][t], x[i], wv[t]);
                        }
                    }
                if (POOL) {
                    /* the tile is two rows of two vectors (vx = 2) or four rows of one (vx = 1), starting at an even
                       row: per output channel the four results, ReLU'd, are max-pooled 2 x 2 in registers (rows, then
                       neighbouring columns: the even and odd lanes of the two row maxima), quantized once per 16 */
                    for (int t = 0; t < COJ && j0 + t < o; t++) {
                        int j = j0 + t;
                        __m512 f[CPV];
                        for (int i = 0; i < CPV; i++) f[i] = requant16(acc[i][t], corr[j], scale[j], add[j], relu);
                        __m512 a = vx == 2 ? _mm512_max_ps(f[0], f[2]) : _mm512_max_ps(f[0], f[1]);
                        __m512 c = vx == 2 ? _mm512_max_ps(f[1], f[3]) : _mm512_max_ps(f[2], f[3]);
                        __m512 pm = _mm512_max_ps(_mm512_permutex2var_ps(a, evens, c), _mm512_permutex2var_ps(a, odds, c));
                        __m128i q = _mm512_cvtepi32_epi8(quant16q(pm, qs, qz, qlo, qhi));
                        int8_t *plane = codes + ob + (long) j * ph2 * pw2;
                        int pr = yv[0] / 2;                     /* vx = 1: lanes 8.. hold the next pooled row */
                        if (pr < ph2) _mm512_mask_storeu_epi8(plane + (long) pr * pw2, (__mmask64) tail16(pw2), _mm512_castsi128_si512(q));
                        if (vx == 1 && pr + 1 < ph2)
                            _mm512_mask_storeu_epi8(plane + (long) (pr + 1) * pw2, (__mmask64) tail16(pw2), _mm512_castsi128_si512(_mm_srli_si128(q, 8)));
                    }
                    continue;
                }
                for (int i = 0; i < CPV && v0 + i < nv; i++) {
                    __mmask16 m = tail16(ow - xv[i]);
                    /* a row's last vector: when the lanes past the row land inside the next row (a later
                       store overwrites them), a whole store (masked stores to memory not in cache are slow
                       on Zen 4); otherwise (the plane's last row, rows narrower than the overflow) masked */
                    int whole = m == 0xffff || (yv[i] < oh - 1 && 16 - (ow - xv[i]) <= ow);
                    for (int t = 0; t < COJ && j0 + t < o; t++) {
                        int j = j0 + t;
                        __m512 f = requant16(acc[i][t], corr[j], scale[j], add[j], relu);
                        long at = ob + ((long) j * oh + yv[i]) * ow + xv[i];
                        if (CODES) {
                            /* the next layer's code of f: the bits its input packing (quant16) gives the float */
                            __m128i q = _mm512_cvtepi32_epi8(quant16q(f, qs, qz, qlo, qhi));
                            if (whole) _mm_storeu_si128((__m128i *) (codes + at), q);
                            else _mm512_mask_storeu_epi8(codes + at, (__mmask64) m, _mm512_castsi128_si512(q));
                        } else if (whole) {
                            _mm512_storeu_ps(out + at, f);
                        } else {
                            _mm512_mask_storeu_ps(out + at, m, f);
                        }
                    }
                }
            }
        }
    }
}

TARGET void kiln_i8_conv_direct(const uint8_t *in, long imgStride, long planeStride, int n, int c4, int wp,
                                int oh, int ow, int kh, int kw, const int8_t *w, int o, const int32_t *corr,
                                const float *scale, const float *add, int relu, float *out) {
    conv_direct(0, 0, in, imgStride, planeStride, n, c4, wp, oh, ow, kh, kw, w, o, corr, scale, add, relu, out, 0, 0);
}

/*
 * kiln_i8_conv_direct with the output as the next layer's int8 codes: each float result f (after
 * the ReLU) quantized with qp = {scale, zero point, qmin, qmax} exactly as that layer's input
 * packing (quant16, i.e. Int8Weights.quantize) would quantize it, stored as the signed code q
 * into codes [n][o][oh][ow]. A max pool between the two layers commutes with the quantization
 * (it is monotonic), so the next layer sees the codes it would have made from the float output.
 */
TARGET void kiln_i8_conv_direct_codes(const uint8_t *in, long imgStride, long planeStride, int n, int c4, int wp,
                                      int oh, int ow, int kh, int kw, const int8_t *w, int o, const int32_t *corr,
                                      const float *scale, const float *add, int relu, const float *qp, int8_t *codes) {
    conv_direct(1, 0, in, imgStride, planeStride, n, c4, wp, oh, ow, kh, kw, w, o, corr, scale, add, relu, 0, qp, codes);
}

/*
 * kiln_i8_conv_direct_codes with the 2 x 2, stride 2 max pool that follows the conv applied before
 * the quantization: codes [n][o][oh / 2][ow / 2] (floor) = the code of the max of each window of
 * float results (the float model's pool, then the next layer's quantization; max and quantization
 * commute, so this is also the pool of the codes). For output rows of at most 32 pixels (ow <= 32).
 */
TARGET void kiln_i8_conv_direct_codes_pool2(const uint8_t *in, long imgStride, long planeStride, int n, int c4, int wp,
                                            int oh, int ow, int kh, int kw, const int8_t *w, int o, const int32_t *corr,
                                            const float *scale, const float *add, int relu, const float *qp, int8_t *codes) {
    conv_direct(1, 1, in, imgStride, planeStride, n, c4, wp, oh, ow, kh, kw, w, o, corr, scale, add, relu, 0, qp, codes);
}

/* kiln_i8_conv_pack's loop, from floats (x, quantized with s, z, lo, hi) or, with CODES, from int8 codes xq (see below). */
static inline __attribute__((always_inline)) TARGET void conv_pack(const int CODES, const float *x, const int8_t *xq, int n, int c, int h, int w,
        float s, float z, float lo, float hi, int ph, int pw, int wp, long planeElems, int zeroCode, uint8_t *out) {
    int c4 = (c + 3) / 4;
    long imgBytes = 4L * c4 * planeElems;
    const __m512 sv = _mm512_set1_ps(s), zv = _mm512_set1_ps(z), lov = _mm512_set1_ps(lo), hiv = _mm512_set1_ps(hi);
    const __m512i flip = _mm512_set1_epi32(0x80);
    for (int b = 0; b < n; b++) {
        uint8_t *img = out + b * imgBytes;
        memset(img, zeroCode, (size_t) imgBytes);
        for (int g = 0; g < c4; g++) {
            int nc = c - 4 * g < 4 ? c - 4 * g : 4;
            long ch0 = ((long) b * c + 4 * g) * h * w;
            for (int y = 0; y < h; y++) {
                uint8_t *row = img + 4 * (g * planeElems + (long) (y + ph) * wp + pw);
                for (int xx = 0; xx < w; xx += 16) {
                    __mmask16 m = tail16(w - xx);
                    __m512i word = _mm512_setzero_si512();
                    for (int k = 0; k < nc; k++) {
                        long at = ch0 + ((long) k * h + y) * w + xx;
                        __m512i u = CODES
                                ? _mm512_xor_si512(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(_mm512_maskz_loadu_epi8((__mmask64) m, xq + at))), flip)
                                : quant16(_mm512_maskz_loadu_ps(m, x + at), sv, zv, lov, hiv);
                        word = _mm512_or_si512(word, _mm512_slli_epi32(u, 8 * k));
                    }
                    _mm512_mask_storeu_epi32(row + 4L * xx, m, word);
                }
            }
        }
    }
}

/*
 * The input of kiln_i8_conv_direct from float images x [n][c][h][w] (contiguous): each value
 * quantized as dev.kiln.compress.quant.Int8Weights.quantize does (quant16), stored as the unsigned
 * code q + 128 at pixel (y + ph, x + pw) of its channel group's plane, the 4 channels of a group in
 * one 32-bit word (a missing 4th channel: 0); every other byte of the image's [c4][planeElems][4]
 * block is zeroCode.
 */
TARGET void kiln_i8_conv_pack(const float *x, int n, int c, int h, int w, float s, float z, float lo, float hi,
                              int ph, int pw, int wp, long planeElems, int zeroCode, uint8_t *out) {
    conv_pack(0, x, 0, n, c, h, w, s, z, lo, hi, ph, pw, wp, planeElems, zeroCode, out);
}

/*
 * kiln_i8_conv_pack from int8 codes xq [n][c][h][w] (contiguous) already in this layer's
 * quantization (an earlier layer's kiln_i8_conv_direct_codes, perhaps max-pooled): the code q is
 * stored as q + 128, as kiln_i8_conv_pack stores what it quantizes.
 */
TARGET void kiln_i8_conv_pack_codes(const int8_t *xq, int n, int c, int h, int w, int ph, int pw, int wp, long planeElems,
                                    int zeroCode, uint8_t *out) {
    conv_pack(1, 0, xq, n, c, h, w, 1.0f, 0.0f, 0.0f, 0.0f, ph, pw, wp, planeElems, zeroCode, out);
}

/*
 * kiln_i8_conv_pack for one input channel, with the kernel's taps in place of channels: the image
 * is quantized (as kiln_i8_conv_pack) into a padded byte plane (border zeroCode), then word
 * (g, y, x) of the output holds the codes under taps 4g..4g+3 (row-major (ky, kx); taps past
 * kh kw: 0) of output pixel (y, x). kiln_i8_conv_direct then runs it as a 1 x 1 convolution over
 * ceil(kh kw / 4) groups, with planes of width ow (planeElems >= oh ow + 16), and weights [o][taps].
 */
TARGET void kiln_i8_conv_pack_taps(const float *x, int n, int h, int w, float s, float z, float lo, float hi,
                                   int kh, int kw, int ph, int pw, int oh, int ow, long planeElems, int zeroCode,
                                   uint8_t *scratch, uint8_t *out) {
    int taps = kh * kw, g4 = (taps + 3) / 4, hp = h + 2 * ph, wp = w + 2 * pw + 16;
    const __m512 sv = _mm512_set1_ps(s), zv = _mm512_set1_ps(z), lov = _mm512_set1_ps(lo), hiv = _mm512_set1_ps(hi);
    for (int b = 0; b < n; b++) {
        memset(scratch, zeroCode, (size_t) hp * wp);
        const float *img = x + (long) b * h * w;
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx += 16) {
                __mmask16 m = tail16(w - xx);
                __m512i u = quant16(_mm512_maskz_loadu_ps(m, img + (long) y * w + xx), sv, zv, lov, hiv);
                _mm512_mask_cvtepi32_storeu_epi8(scratch + (long) (y + ph) * wp + pw + xx, m, u);
            }
        uint8_t *ob = out + (long) b * 4 * g4 * planeElems;
        for (int g = 0; g < g4; g++)
            for (int y = 0; y < oh; y++)
                for (int xx = 0; xx < ow; xx += 16) {
                    __m512i word = _mm512_setzero_si512();
                    for (int k = 0; k < 4 && 4 * g + k < taps; k++) {
                        int t = 4 * g + k, ky = t / kw, kx = t % kw;
                        __m128i v = _mm_loadu_si128((const __m128i *) (scratch + (long) (y + ky) * wp + xx + kx));
                        word = _mm512_or_si512(word, _mm512_slli_epi32(_mm512_cvtepu8_epi32(v), 8 * k));
                    }
                    _mm512_storeu_si512(ob + 4 * (g * planeElems + (long) y * ow + xx), word);
                }
    }
}
