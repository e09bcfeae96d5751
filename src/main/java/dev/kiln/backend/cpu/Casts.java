package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Kiln's dtype conversion rules, the same on every backend: this class for the CPU, and
 * {@code kernels/kiln_convert.cuh} (used by {@code cast.cu}) for CUDA, operation for operation
 * ({@code CastsTest} runs the CUDA header on the host through nvcc and compares bits).
 * <ul>
 *   <li>float to float: one rounding to nearest even from the exact source value (f64 to bf16/f16
 *       directly, not through f32); overflow gives infinity; NaN stays a (quiet) NaN with its sign.
 *       As ONNX Cast specifies.</li>
 *   <li>float to int (i8, i32, i64): truncation toward zero, saturated to the target's range;
 *       NaN gives 0. ONNX and PyTorch leave out-of-range values undefined; Kiln saturates, as CUDA's
 *       {@code cvt.rzi.sat} and Java's {@code (int)}/{@code (long)} do (before, the CPU wrapped
 *       3e9 to a negative i32 while the GPU saturated).</li>
 *   <li>int to float: one rounding to nearest even (i64 to bf16/f16 directly).</li>
 *   <li>int to int: two's-complement wrap (ONNX: "discard higher bits"). To bool: x != 0 (NaN is
 *       true).</li>
 * </ul>
 */
public final class Casts {
    private Casts() {}

    // binary16-like formats: mantissa bits, exponent of the smallest quantum, +inf bits, quiet bit
    private static final int F16_M = 10, F16_QMIN = -24, F16_INF = 0x7c00, F16_QNAN = 0x0200;
    private static final int BF16_M = 7, BF16_QMIN = -133, BF16_INF = 0x7f80, BF16_QNAN = 0x0040;

    /** f16 bits of the value nearest to v (ties to even). */
    public static short doubleToF16(double v) { return doubleToSmall(v, F16_M, F16_QMIN, F16_INF, F16_QNAN); }

    /** bf16 bits of the value nearest to v (ties to even). */
    public static short doubleToBf16(double v) { return doubleToSmall(v, BF16_M, BF16_QMIN, BF16_INF, BF16_QNAN); }

    /** f16 bits of the value nearest to the integer v. */
    public static short longToF16(long v) { return longToSmall(v, F16_M, F16_QMIN, F16_INF); }

    /** bf16 bits of the value nearest to the integer v. */
    public static short longToBf16(long v) { return longToSmall(v, BF16_M, BF16_QMIN, BF16_INF); }

    /** float to integer: truncation toward zero, saturated to {@code target}'s range, NaN to 0. */
    public static long floatToInt(double v, DType target) {
        if (v != v) return 0;
        long lo, hi;
        switch (target) {
            case I8 -> { lo = Byte.MIN_VALUE; hi = Byte.MAX_VALUE; }
            case I32 -> { lo = Integer.MIN_VALUE; hi = Integer.MAX_VALUE; }
            case I64 -> { return (long) v; } // Java's (long) truncates and saturates, NaN -> 0
            case BOOL -> { return v != 0 ? 1 : 0; }
            default -> throw new IllegalArgumentException("floatToInt: " + target.pyName() + " is not an integer dtype");
        }
        long t = (long) v;
        return t < lo ? lo : Math.min(t, hi);
    }

    static short doubleToSmall(double v, int mbits, int qmin, int inf, int qnan) {
        long b = Double.doubleToRawLongBits(v);
        boolean neg = b < 0;
        int ex = (int) ((b >>> 52) & 0x7ff);
        long man = b & ((1L << 52) - 1);
        if (ex == 0x7ff) {
            int sign = neg ? 0x8000 : 0;
            if (man == 0) return (short) (sign | inf);
            return (short) (sign | inf | qnan | (int) (man >>> (52 - mbits)));
        }
        if (ex == 0) return roundSmall(man, -1074, neg, mbits, qmin, inf);
        return roundSmall(man | (1L << 52), ex - 1075, neg, mbits, qmin, inf);
    }

    static short longToSmall(long v, int mbits, int qmin, int inf) {
        boolean neg = v < 0;
        return roundSmall(neg ? -v : v, 0, neg, mbits, qmin, inf); // -Long.MIN_VALUE is 2^63 as unsigned
    }

    /**
     * The format's bits nearest to m * 2^e (m unsigned, any 64 bits; ties to even) with the given
     * sign: r quanta of 2^q, q the larger of the value's exponent minus mbits and qmin, encode as
     * ((q - qmin) << mbits) + r for subnormals and normals alike; at or past infinity: infinity.
     */
    static short roundSmall(long m, int e, boolean neg, int mbits, int qmin, int inf) {
        int sign = neg ? 0x8000 : 0;
        if (m == 0) return (short) sign;
        int top = 63 - Long.numberOfLeadingZeros(m) + e;
        int q = Math.max(top - mbits, qmin);
        int shift = q - e;
        long r;
        if (shift <= 0) {
            r = m << -shift;
        } else if (shift >= 64) {
            r = shift == 64 && Long.compareUnsigned(m, 1L << 63) > 0 ? 1 : 0;
        } else {
            r = m >>> shift;
            long rem = m & ((1L << shift) - 1), half = 1L << (shift - 1);
            int c = Long.compareUnsigned(rem, half);
            if (c > 0 || (c == 0 && (r & 1) != 0)) r++;
        }
        long bits = ((long) (q - qmin) << mbits) + r;
        if (bits >= inf) bits = inf;
        return (short) (sign | (int) bits);
    }

    /** dst[di] = cast(src[si]) by the rules above, for any pair of dtypes. */
    static void element(Storage src, DType st, long si, Storage dst, DType dt, long di) {
        MemorySegment d = dst.segment();
        if (!st.isFloating()) {
            long v = src.getLong(st, si);
            switch (dt) {
                case F32 -> d.setAtIndex(Storage.F32, di, (float) v);   // one rounding
                case F64 -> d.setAtIndex(Storage.F64, di, (double) v);
                case BF16 -> d.setAtIndex(Storage.I16, di, longToBf16(v));
                case F16 -> d.setAtIndex(Storage.I16, di, longToF16(v));
                default -> dst.setLong(dt, di, v);                       // wraps; bool: v != 0
            }
            return;
        }
        double v = src.getDouble(st, si); // exact for every floating dtype
        switch (dt) {
            case F32 -> d.setAtIndex(Storage.F32, di, (float) v);
            case F64 -> d.setAtIndex(Storage.F64, di, v);
            case BF16 -> d.setAtIndex(Storage.I16, di, doubleToBf16(v));
            case F16 -> d.setAtIndex(Storage.I16, di, doubleToF16(v));
            case BOOL -> d.set(ValueLayout.JAVA_BYTE, di, (byte) (v != 0 ? 1 : 0)); // NaN != 0
            default -> dst.setLong(dt, di, floatToInt(v, dt));
        }
    }
}
