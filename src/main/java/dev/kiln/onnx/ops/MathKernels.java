package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.math.BigDecimal;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.LongBinaryOperator;
import java.util.function.LongUnaryOperator;

/**
 * Generic element loops for the ONNX math ops Kiln's engine has no kernel for (rare ops, and
 * integer types with ONNX semantics: C-style truncating division, wrapping at the logical width,
 * unsigned 64-bit values). Values are read as their logical ONNX value: doubles for float types,
 * exact longs for integer types (uint64 as its two's-complement bit pattern; callers use the
 * unsigned Long methods for it). Results are written back at the logical width of the output type.
 */
final class MathKernels {
    private MathKernels() {}

    /** Logical values as doubles (uint64 read unsigned). */
    static double[] doubles(Tensor t, ElemType type) {
        if (type != ElemType.UINT64) return t.toDoubleArray();
        long[] v = t.toLongArray();
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = unsignedToDouble(v[i]);
        return r;
    }

    static double unsignedToDouble(long v) {
        return v >= 0 ? v : ((v >>> 1) | (v & 1)) * 2.0;
    }

    /** Logical values as longs (exact for every integer type; floats truncated toward zero). */
    static long[] longs(Tensor t) { return t.toLongArray(); }

    /** v wrapped to the width of an integer type (two's complement, as C casts do). */
    static long wrap(long v, ElemType t) {
        return switch (t) {
            case BOOL -> v != 0 ? 1 : 0;
            case INT8 -> (byte) v;
            case UINT8 -> v & 0xFF;
            case INT16 -> (short) v;
            case UINT16 -> v & 0xFFFF;
            case INT32 -> (int) v;
            case UINT32 -> v & 0xFFFFFFFFL;
            default -> v;
        };
    }

    /** A double converted to an integer type: truncated toward zero, then wrapped (NaN gives 0). */
    static long toInteger(double v, ElemType t) {
        if (v != v) return 0;
        if (t == ElemType.UINT64 && v >= 0x1p63) {
            if (v >= 0x1p64) return -1L;
            return new BigDecimal(v).toBigInteger().longValue();
        }
        if (t == ElemType.BOOL) return v != 0 ? 1 : 0;
        return wrap((long) v, t);
    }

    /** A tensor of ONNX type {@code type} holding the logical values {@code v}. */
    static Tensor fromLongs(long[] v, ElemType type, int[] shape) {
        long[] w = new long[v.length];
        for (int i = 0; i < v.length; i++) w[i] = wrap(v[i], type);
        if (type.isFloat()) {
            double[] d = new double[v.length];
            for (int i = 0; i < v.length; i++) d[i] = v[i];
            return Tensor.fromDoubles(type.storage(), d, shape);
        }
        Tensor t = Tensor.fromArray(w, shape);
        if (type.storage() == DType.I64) return t;
        Tensor r = t.to(type.storage());
        t.close();
        return r;
    }

    /** A tensor of ONNX type {@code type} from doubles (integer types: truncated and wrapped). */
    static Tensor fromDoubles(double[] v, ElemType type, int[] shape) {
        if (type.isFloat()) return Tensor.fromDoubles(type.storage(), v, shape);
        long[] l = new long[v.length];
        for (int i = 0; i < v.length; i++) l[i] = toInteger(v[i], type);
        return fromLongs(l, type, shape);
    }

    /** out = f(x) elementwise in double; the output has ONNX type {@code outType}. */
    static Tensor map(Tensor x, ElemType inType, ElemType outType, DoubleUnaryOperator f) {
        double[] v = doubles(x, inType);
        for (int i = 0; i < v.length; i++) v[i] = f.applyAsDouble(v[i]);
        return fromDoubles(v, outType, x.shape());
    }

    /** out = f(x) elementwise on exact longs; the output has ONNX type {@code outType}. */
    static Tensor mapLong(Tensor x, ElemType outType, LongUnaryOperator f) {
        long[] v = longs(x);
        for (int i = 0; i < v.length; i++) v[i] = f.applyAsLong(v[i]);
        return fromLongs(v, outType, x.shape());
    }

    /** out = f(a, b) with broadcasting, in double. */
    static Tensor zip(String op, Tensor a, ElemType ta, Tensor b, ElemType tb, ElemType outType, DoubleBinaryOperator f) {
        int[] shape = Shape.broadcast(op, a.shape(), b.shape());
        double[] x = doubles(expanded(a, shape), ta), y = doubles(expanded(b, shape), tb);
        for (int i = 0; i < x.length; i++) x[i] = f.applyAsDouble(x[i], y[i]);
        return fromDoubles(x, outType, shape);
    }

    /** out = f(a, b) with broadcasting, on exact longs. */
    static Tensor zipLong(String op, Tensor a, Tensor b, ElemType outType, LongBinaryOperator f) {
        int[] shape = Shape.broadcast(op, a.shape(), b.shape());
        long[] x = longs(expanded(a, shape)), y = longs(expanded(b, shape));
        for (int i = 0; i < x.length; i++) x[i] = f.applyAsLong(x[i], y[i]);
        return fromLongs(x, outType, shape);
    }

    /** A broadcast view of t at shape (t itself when the shape already matches). */
    static Tensor expanded(Tensor t, int[] shape) {
        return java.util.Arrays.equals(t.shape(), shape) ? t : t.expand(shape);
    }

    /** Integer power by squaring (wrapping like C); negative exponents give 0 unless |base| is 1. */
    static long ipow(long base, long exp) {
        if (exp < 0) return base == 1 ? 1 : base == -1 ? ((exp & 1) == 0 ? 1 : -1) : 0;
        long r = 1;
        while (exp > 0) {
            if ((exp & 1) != 0) r *= base;
            base *= base;
            exp >>= 1;
        }
        return r;
    }

    /** The cast of tensor x from ONNX type {@code from} to {@code to}, with ONNX/C semantics. */
    static Tensor cast(Tensor x, ElemType from, ElemType to) {
        if (from == to) return x.clone();
        boolean exact = from != ElemType.UINT64;
        if (to.isFloat() || to == ElemType.BOOL) {
            if (exact) return x.to(to.storage());
            return fromDoubles(doubles(x, from), to, x.shape());
        }
        if (from.isFloat()) return fromDoubles(doubles(x, from), to, x.shape());
        return fromLongs(longs(x), to, x.shape()); // integer or bool to integer: wrap
    }
}
