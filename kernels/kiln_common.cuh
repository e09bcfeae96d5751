// kiln_common.cuh: helpers shared by the Kiln kernel families (no kernels here).
//
// - KilnIndexer: the by-value struct of the strided/broadcast paths (up to 8 dims, 3 operands).
// - Overloaded float/double math wrappers (k_exp, k_log, ...) so templates pick the right libm
//   function without relying on implicit overloads; every one is the accurate (non-fast-math) one.
// - NaN-propagating max/min (torch.maximum / torch.minimum, Java Math.max/min semantics).
// - Warp reductions by shuffle.
//
// Index arithmetic is 64-bit everywhere: element counts, strides and offsets are `long long`.
// No system or CUDA headers: the NVRTC fallback compiles these sources with no include path.
#pragma once

#define KILN_MAX_DIMS 8

// Strided iteration over a logical tensor of `ndim` dims with shape `shape` (row-major logical
// order). Operand k (0 = output, 1 = first input, 2 = second input) reads element with logical
// coordinates (i0..i{ndim-1}) at  offset[k] + sum_d i_d * stride[k][d]  (in ELEMENTS, not bytes).
// A broadcast dimension has stride 0. Unused dims/operands must be zero. Host-side layout
// (little-endian, natural alignment, 8 + 64 + 192 + 24 = 288 bytes):
//   int32 ndim; int32 pad; int64 shape[8]; int64 stride[3][8]; int64 offset[3];
struct KilnIndexer {
    int ndim;
    int pad;
    long long shape[KILN_MAX_DIMS];
    long long stride[3][KILN_MAX_DIMS];
    long long offset[3];
};

// Storage offsets (in elements) of logical flat index `flat` for the first `nops` operands.
template <int NOPS>
__device__ __forceinline__ void kiln_offsets(const KilnIndexer& ix, long long flat, long long* off) {
#pragma unroll
    for (int k = 0; k < NOPS; ++k) off[k] = ix.offset[k];
    const int ndim = ix.ndim < KILN_MAX_DIMS ? ix.ndim : KILN_MAX_DIMS;  // host checks <= 8
    for (int d = ndim - 1; d >= 0; --d) {
        long long extent = ix.shape[d];
        long long q = flat / extent;
        long long i = flat - q * extent;
        flat = q;
#pragma unroll
        for (int k = 0; k < NOPS; ++k) off[k] += i * ix.stride[k][d];
    }
}

__device__ __forceinline__ bool kiln_aligned16(const void* p) {
    return (reinterpret_cast<unsigned long long>(p) & 15ull) == 0;
}

// A 16-byte packet of T (float: 4 lanes, double: 2); Pack<T, 1> is a
// single element. Pack<R, N> of a narrower R holds the matching results.
template <typename T, int N> struct alignas(sizeof(T) * N) Pack { T v[N]; };
template <typename T> struct Lanes { static const int N = 16 / sizeof(T); };

// ---- overloaded math (float -> *f variant, double -> double variant) ----
__device__ __forceinline__ float k_exp(float x) { return expf(x); }
__device__ __forceinline__ double k_exp(double x) { return exp(x); }
__device__ __forceinline__ float k_log(float x) { return logf(x); }
__device__ __forceinline__ double k_log(double x) { return log(x); }
__device__ __forceinline__ float k_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double k_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float k_rsqrt(float x) { return rsqrtf(x); }
__device__ __forceinline__ double k_rsqrt(double x) { return rsqrt(x); }
__device__ __forceinline__ float k_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double k_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float k_erf(float x) { return erff(x); }
__device__ __forceinline__ double k_erf(double x) { return erf(x); }
__device__ __forceinline__ float k_sin(float x) { return sinf(x); }
__device__ __forceinline__ double k_sin(double x) { return sin(x); }
__device__ __forceinline__ float k_cos(float x) { return cosf(x); }
__device__ __forceinline__ double k_cos(double x) { return cos(x); }
__device__ __forceinline__ float k_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double k_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float k_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double k_abs(double x) { return fabs(x); }

template <typename T> __device__ __forceinline__ bool k_isnan(T x) { return x != x; }

// torch.maximum / torch.minimum (and Java's Math.max / Math.min, used by the CPU backend):
// NaN if either operand is NaN; -0.0 < +0.0.
template <typename T> __device__ __forceinline__ T k_max(T a, T b) {
    if (k_isnan(a) || k_isnan(b)) return a + b;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}
template <typename T> __device__ __forceinline__ T k_min(T a, T b) {
    if (k_isnan(a) || k_isnan(b)) return a + b;
    if (a == b) return signbit(a) ? a : b;
    return a < b ? a : b;
}

template <typename T> __device__ __forceinline__ T k_neg_inf();
template <> __device__ __forceinline__ float k_neg_inf<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double k_neg_inf<double>() {
    return -__longlong_as_double(0x7ff0000000000000LL);
}

// ---- warp reductions (all 32 lanes must be active; every lane gets the result) ----
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <typename T> __device__ __forceinline__ T warp_max(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = k_max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Grid-stride loop helpers (64-bit).
__device__ __forceinline__ long long kiln_tid() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long kiln_nthreads() {
    return (long long)gridDim.x * blockDim.x;
}
