// cast.cu: dtype conversion kernels between Kiln's DTypes (f32 f64 bf16 f16 i32 i64 i8 bool).
//
// Loaded at run time with cuModuleLoadData (fatbin from native/build-kernels.sh), launched with
// cuLaunchKernel. Names: kiln_cast_<src>_<dst>, kiln_cast_<src>_<dst>_strided (no identity casts:
// use a device copy). Element types: f32 float, f64 double, bf16 and f16 the 16-bit storage structs
// of kiln_convert.cuh, i32 int, i64 long long, i8 signed char, bool unsigned char (0/1). No system
// or CUDA headers: NVRTC compiles it with no include path.
//
//   kiln_cast_<src>_<dst>(const S* x, D* y, int64 n)
//       x (n), y (n): contiguous.
//   kiln_cast_<src>_<dst>_strided(const S* x, D* y, int64 n, KilnIndexer ix)
//       n-d strided (<= 8 dims); ix.shape = logical shape, operand 0 = y, 1 = x.
//
// Semantics: see kiln_convert.cuh (the CPU backend's dev.kiln.backend.cpu.Casts follows the same
// rules bit for bit): float -> float one round-to-nearest-even from the exact value (f64 -> bf16/f16
// directly), overflow -> inf; float -> int truncates, saturates to the target (i8 too), NaN -> 0;
// int -> float one rounding (i64 -> bf16/f16 directly); int -> int wraps; x -> bool is x != 0.
//
// Launch configuration: 256 threads per block; grid = min(ceil(n / 256), 132 * 8). Grid-stride
// loops, so any grid is correct. Dynamic shared memory: 0.
//
// Kernels:
//   kiln_cast_f32_f64, kiln_cast_f32_f64_strided, kiln_cast_f32_bf16, kiln_cast_f32_bf16_strided,
//   kiln_cast_f32_f16, kiln_cast_f32_f16_strided, kiln_cast_f32_i32, kiln_cast_f32_i32_strided,
//   kiln_cast_f32_i64, kiln_cast_f32_i64_strided, kiln_cast_f32_i8, kiln_cast_f32_i8_strided,
//   kiln_cast_f32_bool, kiln_cast_f32_bool_strided, kiln_cast_f64_f32, kiln_cast_f64_f32_strided,
//   kiln_cast_f64_bf16, kiln_cast_f64_bf16_strided, kiln_cast_f64_f16, kiln_cast_f64_f16_strided,
//   kiln_cast_f64_i32, kiln_cast_f64_i32_strided, kiln_cast_f64_i64, kiln_cast_f64_i64_strided,
//   kiln_cast_f64_i8, kiln_cast_f64_i8_strided, kiln_cast_f64_bool, kiln_cast_f64_bool_strided,
//   kiln_cast_bf16_f32, kiln_cast_bf16_f32_strided, kiln_cast_bf16_f64,
//   kiln_cast_bf16_f64_strided, kiln_cast_bf16_f16, kiln_cast_bf16_f16_strided,
//   kiln_cast_bf16_i32, kiln_cast_bf16_i32_strided, kiln_cast_bf16_i64,
//   kiln_cast_bf16_i64_strided, kiln_cast_bf16_i8, kiln_cast_bf16_i8_strided, kiln_cast_bf16_bool,
//   kiln_cast_bf16_bool_strided, kiln_cast_f16_f32, kiln_cast_f16_f32_strided, kiln_cast_f16_f64,
//   kiln_cast_f16_f64_strided, kiln_cast_f16_bf16, kiln_cast_f16_bf16_strided, kiln_cast_f16_i32,
//   kiln_cast_f16_i32_strided, kiln_cast_f16_i64, kiln_cast_f16_i64_strided, kiln_cast_f16_i8,
//   kiln_cast_f16_i8_strided, kiln_cast_f16_bool, kiln_cast_f16_bool_strided, kiln_cast_i32_f32,
//   kiln_cast_i32_f32_strided, kiln_cast_i32_f64, kiln_cast_i32_f64_strided, kiln_cast_i32_bf16,
//   kiln_cast_i32_bf16_strided, kiln_cast_i32_f16, kiln_cast_i32_f16_strided, kiln_cast_i32_i64,
//   kiln_cast_i32_i64_strided, kiln_cast_i32_i8, kiln_cast_i32_i8_strided, kiln_cast_i32_bool,
//   kiln_cast_i32_bool_strided, kiln_cast_i64_f32, kiln_cast_i64_f32_strided, kiln_cast_i64_f64,
//   kiln_cast_i64_f64_strided, kiln_cast_i64_bf16, kiln_cast_i64_bf16_strided, kiln_cast_i64_f16,
//   kiln_cast_i64_f16_strided, kiln_cast_i64_i32, kiln_cast_i64_i32_strided, kiln_cast_i64_i8,
//   kiln_cast_i64_i8_strided, kiln_cast_i64_bool, kiln_cast_i64_bool_strided, kiln_cast_i8_f32,
//   kiln_cast_i8_f32_strided, kiln_cast_i8_f64, kiln_cast_i8_f64_strided, kiln_cast_i8_bf16,
//   kiln_cast_i8_bf16_strided, kiln_cast_i8_f16, kiln_cast_i8_f16_strided, kiln_cast_i8_i32,
//   kiln_cast_i8_i32_strided, kiln_cast_i8_i64, kiln_cast_i8_i64_strided, kiln_cast_i8_bool,
//   kiln_cast_i8_bool_strided, kiln_cast_bool_f32, kiln_cast_bool_f32_strided, kiln_cast_bool_f64,
//   kiln_cast_bool_f64_strided, kiln_cast_bool_bf16, kiln_cast_bool_bf16_strided,
//   kiln_cast_bool_f16, kiln_cast_bool_f16_strided, kiln_cast_bool_i32,
//   kiln_cast_bool_i32_strided, kiln_cast_bool_i64, kiln_cast_bool_i64_strided, kiln_cast_bool_i8,
//   kiln_cast_bool_i8_strided

#include "kiln_common.cuh"
#include "kiln_convert.cuh"

// ---- source -> wide value: floating sources widen exactly to double, integers to int64 ----
__device__ __forceinline__ double wide(float v) { return (double)v; }
__device__ __forceinline__ double wide(double v) { return v; }
__device__ __forceinline__ double wide(KilnBf16 v) { return (double)kiln_bf16_to_float(v); }
__device__ __forceinline__ double wide(KilnF16 v) { return (double)kiln_f16_to_float(v); }
__device__ __forceinline__ long long wide(int v) { return v; }
__device__ __forceinline__ long long wide(long long v) { return v; }
__device__ __forceinline__ long long wide(signed char v) { return v; }
__device__ __forceinline__ long long wide(unsigned char v) { return v != 0; }

// ---- wide value -> destination ----
template <typename D> struct Narrow;
template <> struct Narrow<float> {
    __device__ static float f(double v) { return __double2float_rn(v); }
    __device__ static float f(long long v) { return __ll2float_rn(v); }
};
template <> struct Narrow<double> {
    __device__ static double f(double v) { return v; }
    __device__ static double f(long long v) { return __ll2double_rn(v); }
};
template <> struct Narrow<KilnBf16> {
    __device__ static KilnBf16 f(double v) { return kiln_double_to_bf16(v); }
    __device__ static KilnBf16 f(long long v) { return kiln_long_to_bf16(v); }
};
template <> struct Narrow<KilnF16> {
    __device__ static KilnF16 f(double v) { return kiln_double_to_f16(v); }
    __device__ static KilnF16 f(long long v) { return kiln_long_to_f16(v); }
};
template <> struct Narrow<int> {
    __device__ static int f(double v) { return kiln_double_to_i32_sat(v); }
    __device__ static int f(long long v) { return (int)(unsigned int)(unsigned long long)v; }
};
template <> struct Narrow<long long> {
    __device__ static long long f(double v) { return kiln_double_to_i64_sat(v); }
    __device__ static long long f(long long v) { return v; }
};
template <> struct Narrow<signed char> {
    __device__ static signed char f(double v) { return kiln_double_to_i8_sat(v); }
    __device__ static signed char f(long long v) {
        unsigned int b = (unsigned int)(unsigned long long)v & 0xffu;
        return (signed char)(b >= 128u ? (int)b - 256 : (int)b);
    }
};
template <> struct Narrow<unsigned char> {
    __device__ static unsigned char f(double v) { return v != 0.0; }
    __device__ static unsigned char f(long long v) { return v != 0; }
};

template <typename S, typename D>
__device__ __forceinline__ void cast_contig(const S* x, D* y, long long n) {
    for (long long i = kiln_tid(); i < n; i += kiln_nthreads()) y[i] = Narrow<D>::f(wide(x[i]));
}

template <typename S, typename D>
__device__ __forceinline__ void cast_strided(const S* x, D* y, long long n,
                                             const KilnIndexer& ix) {
    for (long long i = kiln_tid(); i < n; i += kiln_nthreads()) {
        long long off[2];
        kiln_offsets<2>(ix, i, off);
        y[off[0]] = Narrow<D>::f(wide(x[off[1]]));
    }
}

// KILN_DEF_CAST(contiguous name, strided name, source type, destination type)
#define KILN_DEF_CAST(NAME, NAME_STRIDED, S, D)                                                 \
    extern "C" __global__ void NAME(const S* x, D* y, long long n) { \
        cast_contig<S, D>(x, y, n);                                                            \
    }                                                                                          \
    extern "C" __global__ void NAME_STRIDED(const S* x, D* y,        \
                                            long long n, KilnIndexer ix) {                     \
        cast_strided<S, D>(x, y, n, ix);                                                       \
    }

KILN_DEF_CAST(kiln_cast_f32_f64, kiln_cast_f32_f64_strided, float, double)
KILN_DEF_CAST(kiln_cast_f32_bf16, kiln_cast_f32_bf16_strided, float, KilnBf16)
KILN_DEF_CAST(kiln_cast_f32_f16, kiln_cast_f32_f16_strided, float, KilnF16)
KILN_DEF_CAST(kiln_cast_f32_i32, kiln_cast_f32_i32_strided, float, int)
KILN_DEF_CAST(kiln_cast_f32_i64, kiln_cast_f32_i64_strided, float, long long)
KILN_DEF_CAST(kiln_cast_f32_i8, kiln_cast_f32_i8_strided, float, signed char)
KILN_DEF_CAST(kiln_cast_f32_bool, kiln_cast_f32_bool_strided, float, unsigned char)
KILN_DEF_CAST(kiln_cast_f64_f32, kiln_cast_f64_f32_strided, double, float)
KILN_DEF_CAST(kiln_cast_f64_bf16, kiln_cast_f64_bf16_strided, double, KilnBf16)
KILN_DEF_CAST(kiln_cast_f64_f16, kiln_cast_f64_f16_strided, double, KilnF16)
KILN_DEF_CAST(kiln_cast_f64_i32, kiln_cast_f64_i32_strided, double, int)
KILN_DEF_CAST(kiln_cast_f64_i64, kiln_cast_f64_i64_strided, double, long long)
KILN_DEF_CAST(kiln_cast_f64_i8, kiln_cast_f64_i8_strided, double, signed char)
KILN_DEF_CAST(kiln_cast_f64_bool, kiln_cast_f64_bool_strided, double, unsigned char)
KILN_DEF_CAST(kiln_cast_bf16_f32, kiln_cast_bf16_f32_strided, KilnBf16, float)
KILN_DEF_CAST(kiln_cast_bf16_f64, kiln_cast_bf16_f64_strided, KilnBf16, double)
KILN_DEF_CAST(kiln_cast_bf16_f16, kiln_cast_bf16_f16_strided, KilnBf16, KilnF16)
KILN_DEF_CAST(kiln_cast_bf16_i32, kiln_cast_bf16_i32_strided, KilnBf16, int)
KILN_DEF_CAST(kiln_cast_bf16_i64, kiln_cast_bf16_i64_strided, KilnBf16, long long)
KILN_DEF_CAST(kiln_cast_bf16_i8, kiln_cast_bf16_i8_strided, KilnBf16, signed char)
KILN_DEF_CAST(kiln_cast_bf16_bool, kiln_cast_bf16_bool_strided, KilnBf16, unsigned char)
KILN_DEF_CAST(kiln_cast_f16_f32, kiln_cast_f16_f32_strided, KilnF16, float)
KILN_DEF_CAST(kiln_cast_f16_f64, kiln_cast_f16_f64_strided, KilnF16, double)
KILN_DEF_CAST(kiln_cast_f16_bf16, kiln_cast_f16_bf16_strided, KilnF16, KilnBf16)
KILN_DEF_CAST(kiln_cast_f16_i32, kiln_cast_f16_i32_strided, KilnF16, int)
KILN_DEF_CAST(kiln_cast_f16_i64, kiln_cast_f16_i64_strided, KilnF16, long long)
KILN_DEF_CAST(kiln_cast_f16_i8, kiln_cast_f16_i8_strided, KilnF16, signed char)
KILN_DEF_CAST(kiln_cast_f16_bool, kiln_cast_f16_bool_strided, KilnF16, unsigned char)
KILN_DEF_CAST(kiln_cast_i32_f32, kiln_cast_i32_f32_strided, int, float)
KILN_DEF_CAST(kiln_cast_i32_f64, kiln_cast_i32_f64_strided, int, double)
KILN_DEF_CAST(kiln_cast_i32_bf16, kiln_cast_i32_bf16_strided, int, KilnBf16)
KILN_DEF_CAST(kiln_cast_i32_f16, kiln_cast_i32_f16_strided, int, KilnF16)
KILN_DEF_CAST(kiln_cast_i32_i64, kiln_cast_i32_i64_strided, int, long long)
KILN_DEF_CAST(kiln_cast_i32_i8, kiln_cast_i32_i8_strided, int, signed char)
KILN_DEF_CAST(kiln_cast_i32_bool, kiln_cast_i32_bool_strided, int, unsigned char)
KILN_DEF_CAST(kiln_cast_i64_f32, kiln_cast_i64_f32_strided, long long, float)
KILN_DEF_CAST(kiln_cast_i64_f64, kiln_cast_i64_f64_strided, long long, double)
KILN_DEF_CAST(kiln_cast_i64_bf16, kiln_cast_i64_bf16_strided, long long, KilnBf16)
KILN_DEF_CAST(kiln_cast_i64_f16, kiln_cast_i64_f16_strided, long long, KilnF16)
KILN_DEF_CAST(kiln_cast_i64_i32, kiln_cast_i64_i32_strided, long long, int)
KILN_DEF_CAST(kiln_cast_i64_i8, kiln_cast_i64_i8_strided, long long, signed char)
KILN_DEF_CAST(kiln_cast_i64_bool, kiln_cast_i64_bool_strided, long long, unsigned char)
KILN_DEF_CAST(kiln_cast_i8_f32, kiln_cast_i8_f32_strided, signed char, float)
KILN_DEF_CAST(kiln_cast_i8_f64, kiln_cast_i8_f64_strided, signed char, double)
KILN_DEF_CAST(kiln_cast_i8_bf16, kiln_cast_i8_bf16_strided, signed char, KilnBf16)
KILN_DEF_CAST(kiln_cast_i8_f16, kiln_cast_i8_f16_strided, signed char, KilnF16)
KILN_DEF_CAST(kiln_cast_i8_i32, kiln_cast_i8_i32_strided, signed char, int)
KILN_DEF_CAST(kiln_cast_i8_i64, kiln_cast_i8_i64_strided, signed char, long long)
KILN_DEF_CAST(kiln_cast_i8_bool, kiln_cast_i8_bool_strided, signed char, unsigned char)
KILN_DEF_CAST(kiln_cast_bool_f32, kiln_cast_bool_f32_strided, unsigned char, float)
KILN_DEF_CAST(kiln_cast_bool_f64, kiln_cast_bool_f64_strided, unsigned char, double)
KILN_DEF_CAST(kiln_cast_bool_bf16, kiln_cast_bool_bf16_strided, unsigned char, KilnBf16)
KILN_DEF_CAST(kiln_cast_bool_f16, kiln_cast_bool_f16_strided, unsigned char, KilnF16)
KILN_DEF_CAST(kiln_cast_bool_i32, kiln_cast_bool_i32_strided, unsigned char, int)
KILN_DEF_CAST(kiln_cast_bool_i64, kiln_cast_bool_i64_strided, unsigned char, long long)
KILN_DEF_CAST(kiln_cast_bool_i8, kiln_cast_bool_i8_strided, unsigned char, signed char)
