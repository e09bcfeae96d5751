// kiln_convert.cuh: Kiln's dtype conversion rules in plain integer C++ (no kernels, no includes),
// shared by cast.cu and mirrored bit for bit by the CPU backend (dev.kiln.backend.cpu.Casts).
// __host__ __device__, so the very same code is also checked on the CPU: CastsTest compiles a host
// program around this header with nvcc and compares it with the Java side.
//
// Semantics (ONNX Cast, and PyTorch's where it defines them; ONNX and PyTorch leave an out-of-range
// float -> int undefined, Kiln defines it as below, the saturating rule of CUDA's cvt.rzi.sat):
//   float -> float: one rounding, to nearest even, from the exact source value (f64 -> bf16/f16 is
//                   not rounded through f32); overflow gives +-inf; NaN stays NaN (quiet, sign and
//                   top payload bits kept).
//   float -> int:   truncation toward zero, saturated to the target's range (i8, i32, i64 alike);
//                   NaN -> 0.
//   int -> float:   one rounding to nearest even (i64 -> bf16/f16 directly, not through f64/f32).
//   int -> int:     two's-complement wrap (keep the low bits).
//   x -> bool:      x != 0 (NaN -> 1).
#pragma once

#ifdef __CUDACC__
#define KILN_HD __host__ __device__ __forceinline__
#else
#define KILN_HD inline
#endif

// 16-bit float storage types (the bits; no arithmetic): distinct types for overloading.
struct KilnBf16 { unsigned short bits; };
struct KilnF16 { unsigned short bits; };

KILN_HD unsigned long long kiln_double_bits(double v) {
#ifdef __CUDA_ARCH__
    return (unsigned long long)__double_as_longlong(v);
#else
    union { double d; unsigned long long u; } x;
    x.d = v;
    return x.u;
#endif
}

KILN_HD float kiln_float_from_bits(unsigned int b) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(b);
#else
    union { unsigned int u; float f; } x;
    x.u = b;
    return x.f;
#endif
}

// Number of significant bits of m > 0.
KILN_HD int kiln_bit_length(unsigned long long m) {
#ifdef __CUDA_ARCH__
    return 64 - __clzll((long long)m);
#else
    return 64 - __builtin_clzll(m);
#endif
}

// The bits of the binary16-like format with MBITS mantissa bits whose smallest quantum is 2^QMIN
// (f16: 10, -24; bf16: 7, -133) nearest to m * 2^e (ties to even), with the sign bit `neg`;
// INF is the format's +infinity bits. m may use all 64 bits.
KILN_HD unsigned short kiln_round_small_float(unsigned long long m, int e, bool neg, int MBITS, int QMIN,
                                              unsigned int INF) {
    unsigned int sign = neg ? 0x8000u : 0u;
    if (m == 0) return (unsigned short)sign;
    int top = kiln_bit_length(m) - 1 + e;                  // floor(log2 value)
    int q = top - MBITS > QMIN ? top - MBITS : QMIN;       // exponent of the result's quantum
    int shift = q - e;
    unsigned long long r;
    if (shift <= 0) {
        r = m << -shift;                                   // exact (fewer than MBITS + 1 bits)
    } else if (shift >= 64) {
        r = (shift == 64 && m > (1ull << 63)) ? 1ull : 0ull;   // below half a quantum: 0 (ties: even 0)
    } else {
        r = m >> shift;
        unsigned long long rem = m & ((1ull << shift) - 1), half = 1ull << (shift - 1);
        if (rem > half || (rem == half && (r & 1ull))) r++;
    }
    // r quanta of 2^q: subnormal (q == QMIN, r <= 2^MBITS) and normal (r in [2^MBITS, 2^(MBITS+1)])
    // both encode as ((q - QMIN) << MBITS) + r; a carry into 2^(MBITS+1) bumps the exponent by itself.
    long long bits = ((long long)(q - QMIN) << MBITS) + (long long)r;
    if (bits >= (long long)INF) bits = INF;
    return (unsigned short)(sign | (unsigned int)bits);
}

KILN_HD unsigned short kiln_double_to_small(double v, int MBITS, int QMIN, unsigned int INF, unsigned int QNAN) {
    unsigned long long b = kiln_double_bits(v);
    bool neg = (b >> 63) != 0;
    int ex = (int)((b >> 52) & 0x7ff);
    unsigned long long man = b & ((1ull << 52) - 1);
    if (ex == 0x7ff) {
        if (man == 0) return (unsigned short)((neg ? 0x8000u : 0u) | INF);
        // NaN: quiet, sign and the top payload bits kept (as Float.floatToFloat16 / DType.floatToBf16)
        return (unsigned short)((neg ? 0x8000u : 0u) | INF | QNAN | (unsigned int)(man >> (52 - MBITS)));
    }
    if (ex == 0) return kiln_round_small_float(man, -1074, neg, MBITS, QMIN, INF);
    return kiln_round_small_float(man | (1ull << 52), ex - 1075, neg, MBITS, QMIN, INF);
}

KILN_HD unsigned short kiln_long_to_small(long long v, int MBITS, int QMIN, unsigned int INF) {
    bool neg = v < 0;
    unsigned long long m = neg ? 0ull - (unsigned long long)v : (unsigned long long)v;
    return kiln_round_small_float(m, 0, neg, MBITS, QMIN, INF);
}

KILN_HD KilnF16 kiln_double_to_f16(double v) { KilnF16 h; h.bits = kiln_double_to_small(v, 10, -24, 0x7c00u, 0x0200u); return h; }
KILN_HD KilnBf16 kiln_double_to_bf16(double v) { KilnBf16 h; h.bits = kiln_double_to_small(v, 7, -133, 0x7f80u, 0x0040u); return h; }
KILN_HD KilnF16 kiln_long_to_f16(long long v) { KilnF16 h; h.bits = kiln_long_to_small(v, 10, -24, 0x7c00u); return h; }
KILN_HD KilnBf16 kiln_long_to_bf16(long long v) { KilnBf16 h; h.bits = kiln_long_to_small(v, 7, -133, 0x7f80u); return h; }

// Exact widening of the 16-bit formats.
KILN_HD float kiln_bf16_to_float(KilnBf16 h) { return kiln_float_from_bits((unsigned int)h.bits << 16); }
KILN_HD float kiln_f16_to_float(KilnF16 h) {
    unsigned int sign = (unsigned int)(h.bits & 0x8000u) << 16, ex = (h.bits >> 10) & 0x1fu, man = h.bits & 0x3ffu;
    if (ex == 0x1f) return kiln_float_from_bits(sign | 0x7f800000u | (man << 13));          // inf, NaN
    if (ex != 0) return kiln_float_from_bits(sign | ((ex + 112u) << 23) | (man << 13));      // normal
    float mag = (float)man * 5.9604644775390625e-8f;                                         // subnormal: man * 2^-24, exact
    return sign ? -mag : mag;
}

// float -> int: truncate toward zero, saturate, NaN -> 0.
KILN_HD long long kiln_double_to_i64_sat(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775808.0) return 9223372036854775807ll;
    if (v <= -9223372036854775808.0) return -9223372036854775807ll - 1;
    return (long long)v;
}
KILN_HD int kiln_double_to_i32_sat(double v) {
    if (v != v) return 0;
    if (v >= 2147483647.0) return 2147483647;
    if (v <= -2147483648.0) return -2147483647 - 1;
    return (int)v;
}
KILN_HD signed char kiln_double_to_i8_sat(double v) {
    if (v != v) return 0;
    if (v >= 127.0) return 127;
    if (v <= -128.0) return -128;
    return (signed char)(int)v;
}
