// elementwise.cu: Kiln's elementwise CUDA kernels (unary, binary, relu backward, bias+GELU).
//
// Loaded at run time with cuModuleLoadData on the fatbin built by native/build-kernels.sh and
// launched with cuLaunchKernel. Every kernel is `extern "C"` (unmangled name). Pointers are device
// pointers already advanced to the tensor's first element; `n` is the element count (int64).
// All kernels use 64-bit grid-stride loops, so any grid size is correct. In-place is allowed:
// an output may be the very same buffer as an input (same element -> same element; no
// __restrict__ here), but must not partially overlap it.
//
// Launch configuration: 256 threads per block (1-D); grid = min(ceil(n / (256 * L)), 132 * 8)
// blocks for contiguous kernels, where L = 4 (f32) or 2 (f64) elements per 16-byte packet
// (H200: 132 SMs; ~8 resident blocks/SM saturates bandwidth). Strided kernels: grid =
// min(ceil(n / 256), 132 * 16). Dynamic shared memory: 0.
//
// ---- Unary (UnaryOp): y = op(x), dtype T = float (f32) or double (f64) ----
//   kiln_<op>_<dt>(const T* x, T* y, int64 n, T p0, T p1)
//       x (n), y (n): contiguous. Uses 16-byte packets (float4 / double2) when x and y are
//       16-byte aligned, then a scalar tail; falls back to scalars when unaligned.
//   kiln_<op>_<dt>_strided(const T* x, T* y, int64 n, T p0, T p1, KilnIndexer ix)
//       general n-d strided / broadcast path (<= 8 dims); ix operand 0 = y, 1 = x.
//   p0, p1: pow_scalar: p0 = exponent; clamp: p0 = lo, p1 = hi (not NaN); others ignore them.
//   ops: neg abs exp log sqrt rsqrt tanh sigmoid relu gelu (erf) gelu_tanh silu sin cos
//        pow_scalar clamp reciprocal square erf floor ceil round (half to even) sign softplus.
//        relu(NaN) = NaN, clamp(NaN) = NaN (as PyTorch); sign keeps +-0 and NaN.
//   Kernels:
//   kiln_neg_f32, kiln_neg_f32_strided, kiln_abs_f32, kiln_abs_f32_strided, kiln_exp_f32,
//   kiln_exp_f32_strided, kiln_log_f32, kiln_log_f32_strided, kiln_sqrt_f32,
//   kiln_sqrt_f32_strided, kiln_rsqrt_f32, kiln_rsqrt_f32_strided, kiln_tanh_f32,
//   kiln_tanh_f32_strided, kiln_sigmoid_f32, kiln_sigmoid_f32_strided, kiln_relu_f32,
//   kiln_relu_f32_strided, kiln_gelu_f32, kiln_gelu_f32_strided, kiln_gelu_tanh_f32,
//   kiln_gelu_tanh_f32_strided, kiln_silu_f32, kiln_silu_f32_strided, kiln_sin_f32,
//   kiln_sin_f32_strided, kiln_cos_f32, kiln_cos_f32_strided, kiln_pow_scalar_f32,
//   kiln_pow_scalar_f32_strided, kiln_clamp_f32, kiln_clamp_f32_strided, kiln_reciprocal_f32,
//   kiln_reciprocal_f32_strided, kiln_square_f32, kiln_square_f32_strided, kiln_neg_f64,
//   kiln_neg_f64_strided, kiln_abs_f64, kiln_abs_f64_strided, kiln_exp_f64, kiln_exp_f64_strided,
//   kiln_log_f64, kiln_log_f64_strided, kiln_sqrt_f64, kiln_sqrt_f64_strided, kiln_rsqrt_f64,
//   kiln_rsqrt_f64_strided, kiln_tanh_f64, kiln_tanh_f64_strided, kiln_sigmoid_f64,
//   kiln_sigmoid_f64_strided, kiln_relu_f64, kiln_relu_f64_strided, kiln_gelu_f64,
//   kiln_gelu_f64_strided, kiln_gelu_tanh_f64, kiln_gelu_tanh_f64_strided, kiln_silu_f64,
//   kiln_silu_f64_strided, kiln_sin_f64, kiln_sin_f64_strided, kiln_cos_f64, kiln_cos_f64_strided,
//   kiln_pow_scalar_f64, kiln_pow_scalar_f64_strided, kiln_clamp_f64, kiln_clamp_f64_strided,
//   kiln_reciprocal_f64, kiln_reciprocal_f64_strided, kiln_square_f64, kiln_square_f64_strided,
//   kiln_erf_f32, kiln_erf_f32_strided, kiln_floor_f32, kiln_floor_f32_strided, kiln_ceil_f32,
//   kiln_ceil_f32_strided, kiln_round_f32, kiln_round_f32_strided, kiln_sign_f32,
//   kiln_sign_f32_strided, kiln_erf_f64, kiln_erf_f64_strided, kiln_floor_f64,
//   kiln_floor_f64_strided, kiln_ceil_f64, kiln_ceil_f64_strided, kiln_round_f64,
//   kiln_round_f64_strided, kiln_sign_f64, kiln_sign_f64_strided, kiln_softplus_f32,
//   kiln_softplus_f32_strided, kiln_softplus_f64, kiln_softplus_f64_strided
//
// ---- Binary (BinaryOp): y = op(a, b); R = T for arithmetic, uint8 (0/1, Kiln BOOL) for
//      comparisons ----
//   kiln_<op>_<dt>(const T* a, const T* b, R* y, int64 n)
//       a (n), b (n), y (n): contiguous, same shape (no broadcasting); 16-byte packets when all
//       are aligned (y aligned to 4 * sizeof(R) bytes for f32, 2 * sizeof(R) for f64).
//   kiln_<op>_<dt>_strided(const T* a, const T* b, R* y, int64 n, KilnIndexer ix)
//       broadcasting / strided path: ix.shape = output shape, operand 0 = y, 1 = a, 2 = b
//       (stride 0 on broadcast dims).
//   ops: add sub mul div max min (NaN-propagating, torch.maximum/minimum) pow, and the
//        comparisons eq ne lt le gt ge (uint8 output).
//   Kernels:
//   kiln_add_f32, kiln_add_f32_strided, kiln_sub_f32, kiln_sub_f32_strided, kiln_mul_f32,
//   kiln_mul_f32_strided, kiln_div_f32, kiln_div_f32_strided, kiln_max_f32, kiln_max_f32_strided,
//   kiln_min_f32, kiln_min_f32_strided, kiln_pow_f32, kiln_pow_f32_strided, kiln_eq_f32,
//   kiln_eq_f32_strided, kiln_ne_f32, kiln_ne_f32_strided, kiln_lt_f32, kiln_lt_f32_strided,
//   kiln_le_f32, kiln_le_f32_strided, kiln_gt_f32, kiln_gt_f32_strided, kiln_ge_f32,
//   kiln_ge_f32_strided, kiln_add_f64, kiln_add_f64_strided, kiln_sub_f64, kiln_sub_f64_strided,
//   kiln_mul_f64, kiln_mul_f64_strided, kiln_div_f64, kiln_div_f64_strided, kiln_max_f64,
//   kiln_max_f64_strided, kiln_min_f64, kiln_min_f64_strided, kiln_pow_f64, kiln_pow_f64_strided,
//   kiln_eq_f64, kiln_eq_f64_strided, kiln_ne_f64, kiln_ne_f64_strided, kiln_lt_f64,
//   kiln_lt_f64_strided, kiln_le_f64, kiln_le_f64_strided, kiln_gt_f64, kiln_gt_f64_strided,
//   kiln_ge_f64, kiln_ge_f64_strided
//
// ---- Others ----
//   kiln_relu_backward_f32(const float* x, const float* g, float* out, int64 n)
//   kiln_relu_backward_f64(const double* x, const double* g, double* out, int64 n)
//       x (n), g (n), out (n): out = x > 0 ? g : 0; contiguous, 16-byte packets when aligned.
//   kiln_bias_gelu_f32(const float* x, const float* bias, float* y, int64 rows, int64 cols)
//   kiln_bias_gelu_tanh_f32(const float* x, const float* bias, float* y, int64 rows, int64 cols)
//       x (rows, cols) row-major contiguous, bias (cols), y (rows, cols):
//       y = gelu(x + bias[col]) (erf form / tanh approximation). float4 when cols % 4 == 0 and
//       all pointers 16-byte aligned. Launch: 256 threads, grid = min(ceil(rows*cols/1024), 1056).
//
// KilnIndexer (kiln_common.cuh) is passed BY VALUE (288 bytes): int32 ndim, int32 pad,
// int64 shape[8], int64 stride[3][8] (elements), int64 offset[3] (elements).

#include "kiln_common.cuh"

// ============================================================================================
// Unary op functors: T f(T x, T p0, T p1). p0/p1 are the scalar parameters (pow_scalar: p0 is
// the exponent; clamp: p0 = lo, p1 = hi); other ops ignore them.
// ============================================================================================
template <typename T> struct OpNeg { __device__ static T f(T x, T, T) { return -x; } };
template <typename T> struct OpAbs { __device__ static T f(T x, T, T) { return k_abs(x); } };
template <typename T> struct OpExp { __device__ static T f(T x, T, T) { return k_exp(x); } };
template <typename T> struct OpLog { __device__ static T f(T x, T, T) { return k_log(x); } };
template <typename T> struct OpSqrt { __device__ static T f(T x, T, T) { return k_sqrt(x); } };
template <typename T> struct OpRsqrt { __device__ static T f(T x, T, T) { return k_rsqrt(x); } };
template <typename T> struct OpTanh { __device__ static T f(T x, T, T) { return k_tanh(x); } };
template <typename T> struct OpSigmoid {
    __device__ static T f(T x, T, T) { return T(1) / (T(1) + k_exp(-x)); }
};
template <typename T> struct OpRelu {
    __device__ static T f(T x, T, T) { return (x > T(0) || k_isnan(x)) ? x : T(0); }
};
// gelu(x) = x/2 * (1 + erf(x / sqrt(2)))
template <typename T> struct OpGelu {
    __device__ static T f(T x, T, T) {
        return T(0.5) * x * (T(1) + k_erf(x * T(0.70710678118654752440)));
    }
};
// gelu_tanh(x) = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
template <typename T> struct OpGeluTanh {
    __device__ static T f(T x, T, T) {
        T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
        return T(0.5) * x * (T(1) + k_tanh(inner));
    }
};
template <typename T> struct OpSilu {
    __device__ static T f(T x, T, T) { return x / (T(1) + k_exp(-x)); }
};
template <typename T> struct OpSin { __device__ static T f(T x, T, T) { return k_sin(x); } };
template <typename T> struct OpCos { __device__ static T f(T x, T, T) { return k_cos(x); } };
template <typename T> struct OpPowScalar {
    __device__ static T f(T x, T p0, T) { return k_pow(x, p0); }
};
// NaN in x stays NaN; lo/hi must not be NaN (the host checks).
template <typename T> struct OpClamp {
    __device__ static T f(T x, T lo, T hi) { return k_min(k_max(x, lo), hi); }
};
template <typename T> struct OpReciprocal { __device__ static T f(T x, T, T) { return T(1) / x; } };
template <typename T> struct OpSquare { __device__ static T f(T x, T, T) { return x * x; } };
template <typename T> struct OpErf { __device__ static T f(T x, T, T) { return k_erf(x); } };
// floor / ceil / rint (round half to even) come in float and double overloads from the CUDA math API
template <typename T> struct OpFloor { __device__ static T f(T x, T, T) { return floor(x); } };
template <typename T> struct OpCeil { __device__ static T f(T x, T, T) { return ceil(x); } };
template <typename T> struct OpRound { __device__ static T f(T x, T, T) { return rint(x); } };
template <typename T> struct OpSign {
    __device__ static T f(T x, T, T) { return x > T(0) ? T(1) : x < T(0) ? T(-1) : x; }
};
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large x (log1p: float and double overloads)
template <typename T> struct OpSoftplus {
    __device__ static T f(T x, T, T) { return k_max(x, T(0)) + log1p(k_exp(-fabs(x))); }
};

// ============================================================================================
// Binary op functors: R f(T a, T b), R = T for arithmetic, unsigned char (0/1) for comparisons.
// ============================================================================================
template <typename T> struct OpAdd { typedef T R; __device__ static R f(T a, T b) { return a + b; } };
template <typename T> struct OpSub { typedef T R; __device__ static R f(T a, T b) { return a - b; } };
template <typename T> struct OpMul { typedef T R; __device__ static R f(T a, T b) { return a * b; } };
template <typename T> struct OpDiv { typedef T R; __device__ static R f(T a, T b) { return a / b; } };
template <typename T> struct OpMax { typedef T R; __device__ static R f(T a, T b) { return k_max(a, b); } };
template <typename T> struct OpMin { typedef T R; __device__ static R f(T a, T b) { return k_min(a, b); } };
template <typename T> struct OpPow { typedef T R; __device__ static R f(T a, T b) { return k_pow(a, b); } };
template <typename T> struct OpEq { typedef unsigned char R; __device__ static R f(T a, T b) { return a == b; } };
template <typename T> struct OpNe { typedef unsigned char R; __device__ static R f(T a, T b) { return a != b; } };
template <typename T> struct OpLt { typedef unsigned char R; __device__ static R f(T a, T b) { return a < b; } };
template <typename T> struct OpLe { typedef unsigned char R; __device__ static R f(T a, T b) { return a <= b; } };
template <typename T> struct OpGt { typedef unsigned char R; __device__ static R f(T a, T b) { return a > b; } };
template <typename T> struct OpGe { typedef unsigned char R; __device__ static R f(T a, T b) { return a >= b; } };

// ============================================================================================
// Generic bodies
// ============================================================================================

// Contiguous unary: 16-byte packets when x and y are 16-byte aligned, then a scalar tail.
template <typename T, typename Op>
__device__ __forceinline__ void unary_contig(const T* x, T* y,
                                             long long n, T p0, T p1) {
    const int N = Lanes<T>::N;
    long long start = 0;
    if (kiln_aligned16(x) && kiln_aligned16(y)) {
        long long packs = n / N;
        const Pack<T, N>* xp = reinterpret_cast<const Pack<T, N>*>(x);
        Pack<T, N>* yp = reinterpret_cast<Pack<T, N>*>(y);
        for (long long i = kiln_tid(); i < packs; i += kiln_nthreads()) {
            Pack<T, N> a = xp[i], r;
#pragma unroll
            for (int j = 0; j < N; ++j) r.v[j] = Op::f(a.v[j], p0, p1);
            yp[i] = r;
        }
        start = packs * N;
    }
    for (long long i = start + kiln_tid(); i < n; i += kiln_nthreads()) y[i] = Op::f(x[i], p0, p1);
}

template <typename T, typename Op>
__device__ __forceinline__ void unary_strided(const T* x, T* y,
                                              long long n, T p0, T p1, const KilnIndexer& ix) {
    for (long long i = kiln_tid(); i < n; i += kiln_nthreads()) {
        long long off[2];
        kiln_offsets<2>(ix, i, off);
        y[off[0]] = Op::f(x[off[1]], p0, p1);
    }
}

// Contiguous binary, same element count for a, b, out (no broadcasting).
template <typename T, typename Op>
__device__ __forceinline__ void binary_contig(const T* a, const T* b,
                                              typename Op::R* y, long long n) {
    typedef typename Op::R R;
    const int N = Lanes<T>::N;
    long long start = 0;
    if (kiln_aligned16(a) && kiln_aligned16(b) &&
        (reinterpret_cast<unsigned long long>(y) % (sizeof(R) * N)) == 0) {
        long long packs = n / N;
        const Pack<T, N>* ap = reinterpret_cast<const Pack<T, N>*>(a);
        const Pack<T, N>* bp = reinterpret_cast<const Pack<T, N>*>(b);
        Pack<R, N>* yp = reinterpret_cast<Pack<R, N>*>(y);
        for (long long i = kiln_tid(); i < packs; i += kiln_nthreads()) {
            Pack<T, N> u = ap[i], v = bp[i];
            Pack<R, N> r;
#pragma unroll
            for (int j = 0; j < N; ++j) r.v[j] = Op::f(u.v[j], v.v[j]);
            yp[i] = r;
        }
        start = packs * N;
    }
    for (long long i = start + kiln_tid(); i < n; i += kiln_nthreads()) y[i] = Op::f(a[i], b[i]);
}

template <typename T, typename Op>
__device__ __forceinline__ void binary_strided(const T* a, const T* b,
                                               typename Op::R* y, long long n,
                                               const KilnIndexer& ix) {
    for (long long i = kiln_tid(); i < n; i += kiln_nthreads()) {
        long long off[3];
        kiln_offsets<3>(ix, i, off);
        y[off[0]] = Op::f(a[off[1]], b[off[2]]);
    }
}

// ============================================================================================
// Kernel definitions. Every KILN_DEF_* macro takes the full kernel names as its leading
// arguments, so the names are greppable and checked against the header by KernelSourcesTest.
// ============================================================================================
#define KILN_DEF_UNARY(NAME, NAME_STRIDED, T, OP)                                               \
    extern "C" __global__ void NAME(const T* x, T* y, long long n,   \
                                    T p0, T p1) {                                              \
        unary_contig<T, OP<T> >(x, y, n, p0, p1);                                              \
    }                                                                                          \
    extern "C" __global__ void NAME_STRIDED(const T* x, T* y,        \
                                            long long n, T p0, T p1, KilnIndexer ix) {         \
        unary_strided<T, OP<T> >(x, y, n, p0, p1, ix);                                         \
    }

#define KILN_DEF_BINARY(NAME, NAME_STRIDED, T, OP)                                              \
    extern "C" __global__ void NAME(const T* a, const T* b,          \
                                    OP<T>::R* y, long long n) {                   \
        binary_contig<T, OP<T> >(a, b, y, n);                                                  \
    }                                                                                          \
    extern "C" __global__ void NAME_STRIDED(const T* a, const T* b,  \
                                            OP<T>::R* y, long long n,             \
                                            KilnIndexer ix) {                                  \
        binary_strided<T, OP<T> >(a, b, y, n, ix);                                             \
    }

// ---- unary: kiln_<op>_<dtype>, kiln_<op>_<dtype>_strided ----
KILN_DEF_UNARY(kiln_neg_f32, kiln_neg_f32_strided, float, OpNeg)
KILN_DEF_UNARY(kiln_abs_f32, kiln_abs_f32_strided, float, OpAbs)
KILN_DEF_UNARY(kiln_exp_f32, kiln_exp_f32_strided, float, OpExp)
KILN_DEF_UNARY(kiln_log_f32, kiln_log_f32_strided, float, OpLog)
KILN_DEF_UNARY(kiln_sqrt_f32, kiln_sqrt_f32_strided, float, OpSqrt)
KILN_DEF_UNARY(kiln_rsqrt_f32, kiln_rsqrt_f32_strided, float, OpRsqrt)
KILN_DEF_UNARY(kiln_tanh_f32, kiln_tanh_f32_strided, float, OpTanh)
KILN_DEF_UNARY(kiln_sigmoid_f32, kiln_sigmoid_f32_strided, float, OpSigmoid)
KILN_DEF_UNARY(kiln_relu_f32, kiln_relu_f32_strided, float, OpRelu)
KILN_DEF_UNARY(kiln_gelu_f32, kiln_gelu_f32_strided, float, OpGelu)
KILN_DEF_UNARY(kiln_gelu_tanh_f32, kiln_gelu_tanh_f32_strided, float, OpGeluTanh)
KILN_DEF_UNARY(kiln_silu_f32, kiln_silu_f32_strided, float, OpSilu)
KILN_DEF_UNARY(kiln_sin_f32, kiln_sin_f32_strided, float, OpSin)
KILN_DEF_UNARY(kiln_cos_f32, kiln_cos_f32_strided, float, OpCos)
KILN_DEF_UNARY(kiln_pow_scalar_f32, kiln_pow_scalar_f32_strided, float, OpPowScalar)
KILN_DEF_UNARY(kiln_clamp_f32, kiln_clamp_f32_strided, float, OpClamp)
KILN_DEF_UNARY(kiln_reciprocal_f32, kiln_reciprocal_f32_strided, float, OpReciprocal)
KILN_DEF_UNARY(kiln_square_f32, kiln_square_f32_strided, float, OpSquare)
KILN_DEF_UNARY(kiln_neg_f64, kiln_neg_f64_strided, double, OpNeg)
KILN_DEF_UNARY(kiln_abs_f64, kiln_abs_f64_strided, double, OpAbs)
KILN_DEF_UNARY(kiln_exp_f64, kiln_exp_f64_strided, double, OpExp)
KILN_DEF_UNARY(kiln_log_f64, kiln_log_f64_strided, double, OpLog)
KILN_DEF_UNARY(kiln_sqrt_f64, kiln_sqrt_f64_strided, double, OpSqrt)
KILN_DEF_UNARY(kiln_rsqrt_f64, kiln_rsqrt_f64_strided, double, OpRsqrt)
KILN_DEF_UNARY(kiln_tanh_f64, kiln_tanh_f64_strided, double, OpTanh)
KILN_DEF_UNARY(kiln_sigmoid_f64, kiln_sigmoid_f64_strided, double, OpSigmoid)
KILN_DEF_UNARY(kiln_relu_f64, kiln_relu_f64_strided, double, OpRelu)
KILN_DEF_UNARY(kiln_gelu_f64, kiln_gelu_f64_strided, double, OpGelu)
KILN_DEF_UNARY(kiln_gelu_tanh_f64, kiln_gelu_tanh_f64_strided, double, OpGeluTanh)
KILN_DEF_UNARY(kiln_silu_f64, kiln_silu_f64_strided, double, OpSilu)
KILN_DEF_UNARY(kiln_sin_f64, kiln_sin_f64_strided, double, OpSin)
KILN_DEF_UNARY(kiln_cos_f64, kiln_cos_f64_strided, double, OpCos)
KILN_DEF_UNARY(kiln_pow_scalar_f64, kiln_pow_scalar_f64_strided, double, OpPowScalar)
KILN_DEF_UNARY(kiln_clamp_f64, kiln_clamp_f64_strided, double, OpClamp)
KILN_DEF_UNARY(kiln_reciprocal_f64, kiln_reciprocal_f64_strided, double, OpReciprocal)
KILN_DEF_UNARY(kiln_square_f64, kiln_square_f64_strided, double, OpSquare)
KILN_DEF_UNARY(kiln_erf_f32, kiln_erf_f32_strided, float, OpErf)
KILN_DEF_UNARY(kiln_floor_f32, kiln_floor_f32_strided, float, OpFloor)
KILN_DEF_UNARY(kiln_ceil_f32, kiln_ceil_f32_strided, float, OpCeil)
KILN_DEF_UNARY(kiln_round_f32, kiln_round_f32_strided, float, OpRound)
KILN_DEF_UNARY(kiln_sign_f32, kiln_sign_f32_strided, float, OpSign)
KILN_DEF_UNARY(kiln_erf_f64, kiln_erf_f64_strided, double, OpErf)
KILN_DEF_UNARY(kiln_floor_f64, kiln_floor_f64_strided, double, OpFloor)
KILN_DEF_UNARY(kiln_ceil_f64, kiln_ceil_f64_strided, double, OpCeil)
KILN_DEF_UNARY(kiln_round_f64, kiln_round_f64_strided, double, OpRound)
KILN_DEF_UNARY(kiln_sign_f64, kiln_sign_f64_strided, double, OpSign)
KILN_DEF_UNARY(kiln_softplus_f32, kiln_softplus_f32_strided, float, OpSoftplus)
KILN_DEF_UNARY(kiln_softplus_f64, kiln_softplus_f64_strided, double, OpSoftplus)

// ---- binary: kiln_<op>_<dtype>, kiln_<op>_<dtype>_strided ----
KILN_DEF_BINARY(kiln_add_f32, kiln_add_f32_strided, float, OpAdd)
KILN_DEF_BINARY(kiln_sub_f32, kiln_sub_f32_strided, float, OpSub)
KILN_DEF_BINARY(kiln_mul_f32, kiln_mul_f32_strided, float, OpMul)
KILN_DEF_BINARY(kiln_div_f32, kiln_div_f32_strided, float, OpDiv)
KILN_DEF_BINARY(kiln_max_f32, kiln_max_f32_strided, float, OpMax)
KILN_DEF_BINARY(kiln_min_f32, kiln_min_f32_strided, float, OpMin)
KILN_DEF_BINARY(kiln_pow_f32, kiln_pow_f32_strided, float, OpPow)
KILN_DEF_BINARY(kiln_eq_f32, kiln_eq_f32_strided, float, OpEq)
KILN_DEF_BINARY(kiln_ne_f32, kiln_ne_f32_strided, float, OpNe)
KILN_DEF_BINARY(kiln_lt_f32, kiln_lt_f32_strided, float, OpLt)
KILN_DEF_BINARY(kiln_le_f32, kiln_le_f32_strided, float, OpLe)
KILN_DEF_BINARY(kiln_gt_f32, kiln_gt_f32_strided, float, OpGt)
KILN_DEF_BINARY(kiln_ge_f32, kiln_ge_f32_strided, float, OpGe)
KILN_DEF_BINARY(kiln_add_f64, kiln_add_f64_strided, double, OpAdd)
KILN_DEF_BINARY(kiln_sub_f64, kiln_sub_f64_strided, double, OpSub)
KILN_DEF_BINARY(kiln_mul_f64, kiln_mul_f64_strided, double, OpMul)
KILN_DEF_BINARY(kiln_div_f64, kiln_div_f64_strided, double, OpDiv)
KILN_DEF_BINARY(kiln_max_f64, kiln_max_f64_strided, double, OpMax)
KILN_DEF_BINARY(kiln_min_f64, kiln_min_f64_strided, double, OpMin)
KILN_DEF_BINARY(kiln_pow_f64, kiln_pow_f64_strided, double, OpPow)
KILN_DEF_BINARY(kiln_eq_f64, kiln_eq_f64_strided, double, OpEq)
KILN_DEF_BINARY(kiln_ne_f64, kiln_ne_f64_strided, double, OpNe)
KILN_DEF_BINARY(kiln_lt_f64, kiln_lt_f64_strided, double, OpLt)
KILN_DEF_BINARY(kiln_le_f64, kiln_le_f64_strided, double, OpLe)
KILN_DEF_BINARY(kiln_gt_f64, kiln_gt_f64_strided, double, OpGt)
KILN_DEF_BINARY(kiln_ge_f64, kiln_ge_f64_strided, double, OpGe)

// ============================================================================================
// ReLU backward: out = x > 0 ? g : 0   (x, g, out contiguous, n elements)
// ============================================================================================
template <typename T>
__device__ __forceinline__ void relu_backward(const T* x, const T* g,
                                              T* out, long long n) {
    const int N = Lanes<T>::N;
    long long start = 0;
    if (kiln_aligned16(x) && kiln_aligned16(g) && kiln_aligned16(out)) {
        long long packs = n / N;
        const Pack<T, N>* xp = reinterpret_cast<const Pack<T, N>*>(x);
        const Pack<T, N>* gp = reinterpret_cast<const Pack<T, N>*>(g);
        Pack<T, N>* op = reinterpret_cast<Pack<T, N>*>(out);
        for (long long i = kiln_tid(); i < packs; i += kiln_nthreads()) {
            Pack<T, N> u = xp[i], v = gp[i], r;
#pragma unroll
            for (int j = 0; j < N; ++j) r.v[j] = u.v[j] > T(0) ? v.v[j] : T(0);
            op[i] = r;
        }
        start = packs * N;
    }
    for (long long i = start + kiln_tid(); i < n; i += kiln_nthreads())
        out[i] = x[i] > T(0) ? g[i] : T(0);
}

extern "C" __global__ void kiln_relu_backward_f32(const float* x,
                                                  const float* g,
                                                  float* out, long long n) {
    relu_backward<float>(x, g, out, n);
}

extern "C" __global__ void kiln_relu_backward_f64(const double* x,
                                                  const double* g,
                                                  double* out, long long n) {
    relu_backward<double>(x, g, out, n);
}

// ============================================================================================
// Fused bias + GELU on a row-major (rows, cols) matrix: y[r, c] = gelu(x[r, c] + bias[c]).
// Packets of 4 floats when cols % 4 == 0 and x, y, bias are 16-byte aligned (a packet then never
// straddles two rows); otherwise one element per iteration.
// ============================================================================================
template <typename Op>
__device__ __forceinline__ void bias_gelu(const float* x,
                                          const float* bias, float* y,
                                          long long rows, long long cols) {
    long long n = rows * cols;
    if (cols % 4 == 0 && kiln_aligned16(x) && kiln_aligned16(bias) && kiln_aligned16(y)) {
        long long packs = n / 4, colPacks = cols / 4;
        const float4* xp = reinterpret_cast<const float4*>(x);
        const float4* bp = reinterpret_cast<const float4*>(bias);
        float4* yp = reinterpret_cast<float4*>(y);
        for (long long i = kiln_tid(); i < packs; i += kiln_nthreads()) {
            float4 u = xp[i], b = bp[i % colPacks], r;
            r.x = Op::f(u.x + b.x, 0.f, 0.f);
            r.y = Op::f(u.y + b.y, 0.f, 0.f);
            r.z = Op::f(u.z + b.z, 0.f, 0.f);
            r.w = Op::f(u.w + b.w, 0.f, 0.f);
            yp[i] = r;
        }
        return;
    }
    for (long long i = kiln_tid(); i < n; i += kiln_nthreads())
        y[i] = Op::f(x[i] + bias[i % cols], 0.f, 0.f);
}

extern "C" __global__ void kiln_bias_gelu_f32(const float* x,
                                              const float* bias,
                                              float* y, long long rows,
                                              long long cols) {
    bias_gelu<OpGelu<float> >(x, bias, y, rows, cols);
}

extern "C" __global__ void kiln_bias_gelu_tanh_f32(const float* x,
                                                   const float* bias,
                                                   float* y, long long rows,
                                                   long long cols) {
    bias_gelu<OpGeluTanh<float> >(x, bias, y, rows, cols);
}
