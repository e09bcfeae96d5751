/*
 * Kiln's direct convolution on channel-blocked activations (AVX-512), called from Java through the
 * FFM API by dev.kiln.backend.cpu.ConvBlocked. Activations are NCHW16c: [N][C/16][H][W][16], so the
 * 16 channels of one pixel are one vector, and a conv's output tile (up to 7 pixels of one output
 * row x 32 output channels, fourteen accumulators) is stored as fourteen whole vectors, with no
 * transposition back to planes and its bias, residual and ReLU applied while it is in registers.
 * Per input channel the tile broadcasts one value per pixel (contiguous: the 16 channels of a pixel
 * share a cache line) and loads two weight vectors, one fma per pixel and vector.
 *
 * The input is either blocked (cib = 16; pixels outside the image read a 16-float zero vector) or
 * plain NCHW planes already padded by the caller (the first conv of a network, e.g. 3 channels:
 * cib = C, every window inside the padded planes). Weights are packed once per constant weight:
 * wp[og][c][ki][kj][ci][32] (og: group of 32 output channels, c: input channel block).
 * Work units are (og, image, output row) or (image, output row, og) (rowMajor), a contiguous range
 * per call; each output element is summed by one unit in a fixed order (input block, then kernel
 * row and column, then channel, from the bias), so results do not depend on the thread count.
 * The Java twin (ConvBlocked.referenceUnits) follows the same order in double precision; tests
 * compare both against a float64 reference.
 */
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,fma")))

typedef struct {
    const float *x;   /* input image 0 */
    long xim, xcb, xci, xrow, xpix; /* strides in floats: image, channel block, channel in block, row, pixel */
    int cib, cb, h, w; /* channels per block, blocks, input height and width (padded planes: their size) */
    const float *wp;  /* packed weights */
    const float *bias; /* [O] or null */
    const float *res; /* blocked like y, or null */
    float *y;         /* output image 0, blocked [O/16][OH][OW][16] */
    long yim;         /* floats per output image */
    int og, oh, ow, kh, kw, sh, sw, ph, pw, relu, rowMajor, fq, images;
    float fqScale, fqZp, fqMin, fqMax; /* fq: the output fake-quantized (see fake_quant) */
    const float *zeros; /* at least 16 zero floats */
} kiln_conv_nchwc_args;

/* c0[r] += x * w0, c1[r] += x * w1 for the MR pixels, x = xp[r][o] broadcast (one input channel of one tap). */
static inline __attribute__((always_inline)) TARGET void fma_pixels(const int MR, __m512 *c0, __m512 *c1, const float *const *xp, long o,
        __m512 w0, __m512 w1) {
#pragma GCC unroll 7
    for (int r = 0; r < MR; r++) {
        __m512 v = _mm512_set1_ps(xp[r][o]);
        c0[r] = _mm512_fmadd_ps(v, w0, c0[r]);
        c1[r] = _mm512_fmadd_ps(v, w1, c1[r]);
    }
}

/*
 * A QDQ model's QuantizeLinear -> DequantizeLinear of the conv output, as ConvBlocked.fakeQuant
 * computes it: (saturate(rint(v / scale) + zp) - zp) * scale, the quotient clamped just outside
 * the code range, rounded to even by adding and subtracting 1.5 * 2^23, a NaN to code 0.
 */
static inline __attribute__((always_inline)) TARGET __m512 fake_quant(const kiln_conv_nchwc_args *a, __m512 v) {
    const __m512 magic = _mm512_set1_ps(12582912.0f), zp = _mm512_set1_ps(a->fqZp);
    __m512 q = _mm512_div_ps(v, _mm512_set1_ps(a->fqScale));
    __mmask16 nan = _mm512_cmp_ps_mask(q, q, _CMP_UNORD_Q);
    q = _mm512_max_ps(q, _mm512_set1_ps(a->fqMin - a->fqZp - 1));
    q = _mm512_min_ps(q, _mm512_set1_ps(a->fqMax - a->fqZp + 1));
    q = _mm512_sub_ps(_mm512_add_ps(q, magic), magic);
    q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, zp), _mm512_set1_ps(a->fqMin)), _mm512_set1_ps(a->fqMax));
    q = _mm512_mask_blend_ps(nan, q, _mm512_setzero_ps());
    return _mm512_mul_ps(_mm512_sub_ps(q, zp), _mm512_set1_ps(a->fqScale));
}

/* The tile's epilogue: + residual (r0 null: none), ReLU (max(v, 0), keeping a NaN as the RELU kernel does), 14 stores. */
static inline __attribute__((always_inline)) TARGET void store_tile(const int MR, const kiln_conv_nchwc_args *a, const __m512 *c0,
        const __m512 *c1, int ow0, float *y0, float *y1, const float *r0, const float *r1) {
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 7
    for (int r = 0; r < MR; r++) {
        long o = (long) (ow0 + r) * 16;
        __m512 v0 = c0[r], v1 = c1[r];
        if (r0) {
            v0 = _mm512_add_ps(v0, _mm512_loadu_ps(r0 + o));
            v1 = _mm512_add_ps(v1, _mm512_loadu_ps(r1 + o));
        }
        if (a->relu) {
            v0 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v0, zero, _CMP_LT_OQ), v0, zero);
            v1 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v1, zero, _CMP_LT_OQ), v1, zero);
        }
        if (a->fq) {
            v0 = fake_quant(a, v0);
            v1 = fake_quant(a, v1);
        }
        _mm512_storeu_ps(y0 + o, v0);
        _mm512_storeu_ps(y1 + o, v1);
    }
}

static inline __attribute__((always_inline)) TARGET void tile(const int MR, const int CIB16, const kiln_conv_nchwc_args *a,
        const float *xn, const float *wg, int oh, int ow0, __m512 b0, __m512 b1, float *y0, float *y1, const float *r0, const float *r1) {
    __m512 c0[7], c1[7];
#pragma GCC unroll 7
    for (int r = 0; r < MR; r++) {
        c0[r] = b0;
        c1[r] = b1;
    }
    const int cib = CIB16 ? 16 : a->cib;
    const long wtap = (long) cib * 32;
    const float *wk = wg;
    for (int c = 0; c < a->cb; c++) {
        const float *xc = xn + c * a->xcb;
        for (int ki = 0; ki < a->kh; ki++) {
            int ih = oh * a->sh - a->ph + ki;
            if (ih < 0 || ih >= a->h) {
                wk += a->kw * wtap;
                continue;
            }
            const float *xr = xc + ih * a->xrow;
            for (int kj = 0; kj < a->kw; kj++, wk += wtap) {
                const float *xp[7];
#pragma GCC unroll 7
                for (int r = 0; r < MR; r++) {
                    int iw = (ow0 + r) * a->sw - a->pw + kj;
                    xp[r] = iw >= 0 && iw < a->w ? xr + iw * a->xpix : a->zeros;
                }
                if (CIB16) {
#pragma GCC unroll 16
                    for (int ci = 0; ci < 16; ci++)
                        fma_pixels(MR, c0, c1, xp, ci, _mm512_loadu_ps(wk + ci * 32), _mm512_loadu_ps(wk + ci * 32 + 16));
                } else {
                    for (int ci = 0; ci < cib; ci++)
                        fma_pixels(MR, c0, c1, xp, ci * a->xci, _mm512_loadu_ps(wk + ci * 32), _mm512_loadu_ps(wk + ci * 32 + 16));
                }
            }
        }
    }
    store_tile(MR, a, c0, c1, ow0, y0, y1, r0, r1);
}

/*
 * The same tile for planar input (padded by the caller, so every window lies inside the planes):
 * the pixel pointers are set once per kernel row, and the row's kw x cib (column, channel) pairs
 * run as one loop in the packed order, the same fmas in the same order as tile().
 */
static inline __attribute__((always_inline)) TARGET void tile_planar(const int MR, const kiln_conv_nchwc_args *a,
        const float *xn, const float *wg, int oh, int ow0, __m512 b0, __m512 b1, float *y0, float *y1) {
    __m512 c0[7], c1[7];
#pragma GCC unroll 7
    for (int r = 0; r < MR; r++) {
        c0[r] = b0;
        c1[r] = b1;
    }
    const int pairs = a->kw * a->cib;
    int off[64 * 16];                     /* kj * xpix + ci * xci per pair (kw * cib <= 1024, checked by the caller) */
    for (int kj = 0, t = 0; kj < a->kw; kj++)
        for (int ci = 0; ci < a->cib; ci++, t++) off[t] = (int) (kj * a->xpix + ci * a->xci);
    const float *wk = wg;
    for (int c = 0; c < a->cb; c++)
        for (int ki = 0; ki < a->kh; ki++) {
            const float *xr = xn + c * a->xcb + (oh * a->sh + ki) * a->xrow;
            const float *xp[7];
#pragma GCC unroll 7
            for (int r = 0; r < MR; r++) xp[r] = xr + (long) (ow0 + r) * a->sw * a->xpix;
            for (int t = 0; t < pairs; t++, wk += 32) fma_pixels(MR, c0, c1, xp, off[t], _mm512_loadu_ps(wk), _mm512_loadu_ps(wk + 16));
        }
    store_tile(MR, a, c0, c1, ow0, y0, y1, 0, 0);
}

static inline __attribute__((always_inline)) TARGET void row(const int CIB16, const kiln_conv_nchwc_args *a, int n, int og, int oh) {
    const float *xn = a->x + n * a->xim;
    const float *wg = a->wp + (long) og * a->cb * a->kh * a->kw * a->cib * 32;
    long plane = (long) a->oh * a->ow * 16, rowOff = (long) oh * a->ow * 16;
    float *y0 = a->y + n * a->yim + 2 * og * plane + rowOff, *y1 = y0 + plane;
    const float *r0 = a->res ? a->res + n * a->yim + 2 * og * plane + rowOff : 0, *r1 = r0 ? r0 + plane : 0;
    __m512 b0 = a->bias ? _mm512_loadu_ps(a->bias + 32 * og) : _mm512_setzero_ps();
    __m512 b1 = a->bias ? _mm512_loadu_ps(a->bias + 32 * og + 16) : _mm512_setzero_ps();
    int ow0 = 0;
    if (!CIB16 && a->xci != 1 && !r0 && a->kw * a->cib <= 64 * 16) {       /* planar input (padded): see tile_planar */
        for (; ow0 + 7 <= a->ow; ow0 += 7) tile_planar(7, a, xn, wg, oh, ow0, b0, b1, y0, y1);
        for (; ow0 < a->ow; ow0++) tile_planar(1, a, xn, wg, oh, ow0, b0, b1, y0, y1);
        return;
    }
    for (; ow0 + 7 <= a->ow; ow0 += 7) tile(7, CIB16, a, xn, wg, oh, ow0, b0, b1, y0, y1, r0, r1);
    switch (a->ow - ow0) {
        case 6: tile(6, CIB16, a, xn, wg, oh, ow0, b0, b1, y0, y1, r0, r1); break;
        case 5: tile(5, CIB16, a, xn, wg, oh, ow0, b0, b1, y0, y1, r0, r1); break;
        case 4: tile(4, CIB16, a, xn, wg, oh, ow0, b0, b1, y0, y1, r0, r1); break;
        case 3: tile(3, CIB16, a, xn, wg, oh, ow0, b0, b1, y0, y1, r0, r1); break;
        case 2: tile(2, CIB16, a, xn, wg, oh, ow0, b0, b1, y0, y1, r0, r1); break;
        case 1: tile(1, CIB16, a, xn, wg, oh, ow0, b0, b1, y0, y1, r0, r1); break;
        default: break;
    }
}

/*
 * Unit u as (image, output channel group, output row): rowMajor, the groups of one output row back to
 * back (the input rows stay in cache; inputs larger than the weights); else a group's weights serve
 * every row of every image before the next group's are read (batches of deep layers).
 */
static inline void unit(const kiln_conv_nchwc_args *a, long u, int *n, int *og, int *oh) {
    if (a->rowMajor) {
        long per = (long) a->og * a->oh, r = u % per;
        *n = (int) (u / per);
        *og = (int) (r % a->og);
        *oh = (int) (r / a->og);
    } else {
        long per = (long) a->images * a->oh, r = u % per;
        *og = (int) (u / per);
        *n = (int) (r / a->oh);
        *oh = (int) (r % a->oh);
    }
}

/*
 * Units [u0, u1) of the N * og * oh units (see the file comment for their order). p holds the
 * scalars in this order: xim, xcb, xci, xrow, xpix, cib, cb, h, w, yim, og, oh, ow, kh, kw, sh, sw,
 * ph, pw, relu, rowMajor, fq, then the float bits of fqScale, fqZp, fqMin, fqMax, then the number of
 * images. bias and res may be null.
 */
TARGET void kiln_f32_conv_nchwc(const float *x, const float *wp, const float *bias, const float *res, float *y,
                                const float *zeros, const long *p, long u0, long u1) {
    kiln_conv_nchwc_args a = {
        .x = x, .xim = p[0], .xcb = p[1], .xci = p[2], .xrow = p[3], .xpix = p[4],
        .cib = (int) p[5], .cb = (int) p[6], .h = (int) p[7], .w = (int) p[8],
        .wp = wp, .bias = bias, .res = res, .y = y, .yim = p[9],
        .og = (int) p[10], .oh = (int) p[11], .ow = (int) p[12], .kh = (int) p[13], .kw = (int) p[14],
        .sh = (int) p[15], .sw = (int) p[16], .ph = (int) p[17], .pw = (int) p[18],
        .relu = (int) p[19], .rowMajor = (int) p[20], .fq = (int) p[21], .images = (int) p[26], .zeros = zeros,
    };
    if (a.fq) {
        union { int i; float f; } b;
        b.i = (int) p[22]; a.fqScale = b.f;
        b.i = (int) p[23]; a.fqZp = b.f;
        b.i = (int) p[24]; a.fqMin = b.f;
        b.i = (int) p[25]; a.fqMax = b.f;
    }
    for (long u = u0; u < u1; u++) {
        int n, og, oh;
        unit(&a, u, &n, &og, &oh);
        if (a.cib == 16 && a.xci == 1) row(1, &a, n, og, oh);   /* blocked input: a pixel's 16 channels are adjacent */
        else row(0, &a, n, og, oh);
    }
}
