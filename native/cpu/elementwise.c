/*
 * Kiln's streaming elementwise kernels for large F32 tensors (AVX-512), called from Java through
 * the FFM API (dev.kiln.backend.cpu.ElemStream). They exist for one thing the Java Vector API
 * cannot express: non-temporal stores. A plain store to memory that is not in cache first reads
 * the line (read-for-ownership), so an out = a + b over tensors far larger than the caches moves
 * 16 bytes per element instead of 12; streaming stores skip that read and leave the caches to the
 * operands. Measured on Zen 4 (one core, 16M floats): add 34-38 GB/s with streaming stores against
 * 20-23 GB/s with plain ones. Below the size where that pays (the output would still be in cache
 * for the next op), and for every other op, the Vector API kernels run. The striped sum at the end
 * is here for a related reason: the Vector API loop's bounds-checked loads keep fewer reads in flight.
 *
 * Results are bitwise equal to the Vector API kernels: the same IEEE operations, and for exp the
 * same clamp, range reduction, polynomial and scaling as ElemVecF32.exp, in the same order.
 */
#include <immintrin.h>
#include <stdint.h>

#include "vexp.h"

#define TARGET __attribute__((target("avx512f")))

/* 1 when this CPU can run the kernels. */
int kiln_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

static inline __attribute__((always_inline)) TARGET __m512 binop(int op, __m512 x, __m512 y) {
    switch (op) {
        case 0: return _mm512_add_ps(x, y);
        case 1: return _mm512_sub_ps(x, y);
        case 2: return _mm512_mul_ps(x, y);
        default: return _mm512_div_ps(x, y);
    }
}

/* e^x exactly as ElemVecF32.exp: clamp (NaN passes), k = round(x log2 e), r = x - k ln2 (two parts),
 * 1 + r + r^2 P(r), times 2^(k-1) times 2 (ln 2 = LN2_HI + LN2_LO with LN2_LO < 0). */
static inline __attribute__((always_inline)) TARGET __m512 exp16(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-87.33f), x);      /* max(c, x) returns x when x is NaN */
    x = _mm512_min_ps(_mm512_set1_ps(88.73f), x);
    __m512 t, r = kiln_exp_reduce(x, x, &t);
    return kiln_exp_scale(r, t);
}

/* Lanes [0, count) of a 16-lane group. */
static inline __mmask16 lanes(long count) { return (__mmask16) (count >= 16 ? 0xffff : (1u << count) - 1); }

/* Elements before o is 64-byte aligned (at most n). */
static inline long head(const float *o, long n) {
    long h = (long) ((64 - ((uintptr_t) o & 63)) & 63) / 4;
    return h < n ? h : n;
}

/* o[0:n] = a[0:n] op b[0:n] (op: 0 add, 1 sub, 2 mul, 3 div), streaming stores. */
TARGET void kiln_f32_binary_stream(int op, const float *a, const float *b, float *o, long n) {
    long i = head(o, n);
    if (i > 0) {
        __mmask16 m = lanes(i);
        _mm512_mask_storeu_ps(o, m, binop(op, _mm512_maskz_loadu_ps(m, a), _mm512_maskz_loadu_ps(m, b)));
    }
    for (; i + 16 <= n; i += 16) _mm512_stream_ps(o + i, binop(op, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    if (i < n) {
        __mmask16 m = lanes(n - i);
        _mm512_mask_storeu_ps(o + i, m, binop(op, _mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
    _mm_sfence();
}

/* o[0:n] = e^x[0:n], streaming stores. */
TARGET void kiln_f32_exp_stream(const float *x, float *o, long n) {
    long i = head(o, n);
    if (i > 0) {
        __mmask16 m = lanes(i);
        _mm512_mask_storeu_ps(o, m, exp16(_mm512_maskz_loadu_ps(m, x)));
    }
    for (; i + 16 <= n; i += 16) _mm512_stream_ps(o + i, exp16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = lanes(n - i);
        _mm512_mask_storeu_ps(o + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
    _mm_sfence();
}

/* The sum of v's 16 lanes in lane order, in double (as dev.kiln.backend.cpu.Lanes.sum). */
static inline __attribute__((always_inline)) TARGET double lanes_in_order(__m512 v) {
    float f[16];
    _mm512_storeu_ps(f, v);
    double s = 0;
    for (int i = 0; i < 16; i++) s += f[i];
    return s;
}

/*
 * Softmax of rows [0, rows) of x [rows, d] into o (both contiguous, d a multiple of 16, d <= 4096):
 * the result of ReduceNorm's F32 softmax row kernel bit for bit (max; e = exp(x - max) kept in a row
 * buffer while summed as ReduceRowF32.expSubStore sums, one vector accumulator flushed into a double
 * every 64 vectors; o = e * (float) (1 / sum)). stream: the output by streaming stores (tensors far
 * larger than the caches), else plain stores (short rows that the next op reads from cache: one call
 * for many rows instead of three Java loops per row, whose per-row cost dominated 128-wide rows).
 */
static inline __attribute__((always_inline)) TARGET void softmax_rows(const float *x, float *o, long rows, int d, int stream) {
    float e[4096] __attribute__((aligned(64)));
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *orow = o + r * d;
        __m512 mx = _mm512_loadu_ps(xr);
        __mmask16 nan = _mm512_cmp_ps_mask(mx, mx, _CMP_UNORD_Q);
        for (int j = 16; j < d; j += 16) {
            __m512 v = _mm512_loadu_ps(xr + j);
            nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            mx = _mm512_max_ps(mx, v);
        }
        float m = nan ? __builtin_nanf("") : _mm512_reduce_max_ps(mx);
        __m512 mv = _mm512_set1_ps(m), acc = _mm512_setzero_ps();
        double total = 0;
        int k = 0;
        for (int j = 0; j < d; j += 16) {
            __m512 v = exp16(_mm512_sub_ps(_mm512_loadu_ps(xr + j), mv));
            _mm512_store_ps(e + j, v);
            acc = _mm512_add_ps(acc, v);
            if (++k == 64) {
                total += lanes_in_order(acc);
                acc = _mm512_setzero_ps();
                k = 0;
            }
        }
        total += lanes_in_order(acc);
        __m512 s = _mm512_set1_ps((float) (1 / total));
        if (stream && ((uintptr_t) orow & 63) == 0) {
            for (int j = 0; j < d; j += 16) _mm512_stream_ps(orow + j, _mm512_mul_ps(_mm512_load_ps(e + j), s));
        } else {
            for (int j = 0; j < d; j += 16) _mm512_storeu_ps(orow + j, _mm512_mul_ps(_mm512_load_ps(e + j), s));
        }
    }
    if (stream) _mm_sfence();
}

TARGET void kiln_f32_softmax_rows_stream(const float *x, float *o, long rows, int d) { softmax_rows(x, o, rows, d, 1); }

TARGET void kiln_f32_softmax_rows(const float *x, float *o, long rows, int d) { softmax_rows(x, o, rows, d, 0); }

/*
 * The striped sum of ReduceRowF32.sum, bit for bit: four stripes x + s * stride (s < 4) of len
 * floats each (len a multiple of 16), read side by side; per stripe, each run of block floats is
 * summed in one 16-lane float accumulator, whose lanes are then added in lane order into the
 * stripe's double; returns the four stripe sums added in stripe order. Not a streaming-store
 * kernel, but here for the same reason: without the per-load bounds checks of MemorySegment
 * access the loop reads at the memory's speed (Zen 4, one core, 64 MB in 2 MiB pages: 37-41 GB/s
 * against 26-29 for the Vector API loop).
 */
TARGET double kiln_f32_sum_stripes(const float *x, long stride, long len, long block) {
    double part[4] = {0, 0, 0, 0};
    for (long off = 0; off < len; off += block) {
        long end = off + block < len ? off + block : len;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (long i = off; i < end; i += 16) {
            a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
            a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + stride + i));
            a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + 2 * stride + i));
            a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + 3 * stride + i));
        }
        part[0] += lanes_in_order(a0);
        part[1] += lanes_in_order(a1);
        part[2] += lanes_in_order(a2);
        part[3] += lanes_in_order(a3);
    }
    double total = 0;
    for (int s = 0; s < 4; s++) total += part[s];
    return total;
}
