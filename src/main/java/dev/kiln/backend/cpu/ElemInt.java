package dev.kiln.backend.cpu;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Scalar row kernels for the integer and bool dtypes (I8, I32, I64, BOOL) and for the dtypes
 * without vector kernels: exact long arithmetic, wrapping on overflow like PyTorch; {@code where}
 * for any dtype by copying raw element bits. Offsets and strides are in elements.
 */
final class ElemInt {
    private ElemInt() {}

    /**
     * An op that keeps integer dtypes ({@link UnaryOp#onInt}: NEG, ABS, RELU, CLAMP, SQUARE, SIGN,
     * and FLOOR, CEIL, ROUND as identity) on an integer or bool row (ABS and RELU are identity on bool).
     */
    static void unary(UnaryOp op, DType t, Storage x, long xi, long xs, Storage o, long oi, long os, int n, double a, double b) {
        if (n > 0 && !op.keepsIntType()) throw new IllegalArgumentException(op.name().toLowerCase() + ": not supported for " + t.pyName());
        for (int i = 0; i < n; i++) o.setLong(t, oi + i * os, op.onInt(x.getLong(t, xi + i * xs), a, b));
    }

    /** Arithmetic (ADD, SUB, MUL, MAX, MIN) or a comparison (BOOL out) on integer or bool rows. */
    static void binary(BinaryOp op, DType t, Storage a, long ai, long as, Storage b, long bi, long bs,
                       Storage o, long oi, long os, int n) {
        if (op.isComparison()) {
            MemorySegment out = o.segment();
            for (int i = 0; i < n; i++) {
                long x = a.getLong(t, ai + i * as), y = b.getLong(t, bi + i * bs);
                out.set(ValueLayout.JAVA_BYTE, oi + i * os, (byte) (compare(op, Long.compare(x, y)) ? 1 : 0));
            }
            return;
        }
        if (n > 0 && !op.definedOnInts()) throw new IllegalArgumentException(op.name().toLowerCase() + ": not supported for " + t.pyName());
        for (int i = 0; i < n; i++) o.setLong(t, oi + i * os, op.onInt(a.getLong(t, ai + i * as), b.getLong(t, bi + i * bs)));
    }

    /** A comparison result from Long.compare / Double.compare style c (<0, 0, >0). */
    static boolean compare(BinaryOp op, int c) {
        return switch (op) {
            case EQ -> c == 0;
            case NE -> c != 0;
            case LT -> c < 0;
            case LE -> c <= 0;
            case GT -> c > 0;
            case GE -> c >= 0;
            default -> throw new IllegalStateException(op + " is not a comparison");
        };
    }

    /** Binary op on a row of a dtype without vector kernels (BF16, F16): through double. */
    static void binaryViaDouble(BinaryOp op, DType t, Storage a, long ai, long as, Storage b, long bi, long bs,
                                Storage o, long oi, long os, int n) {
        for (int i = 0; i < n; i++) {
            double x = a.getDouble(t, ai + i * as), y = b.getDouble(t, bi + i * bs);
            if (op.isComparison()) o.setLong(DType.BOOL, oi + i * os, ElemBinary.compare(op, x, y) ? 1 : 0);
            else o.setDouble(t, oi + i * os, ElemBinary.apply(op, x, y));
        }
    }

    /** out = cond ? a : b on one row, any dtype of a/b/out (raw element bits are copied). */
    static void where(MemorySegment c, long ci, long cs, MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                      MemorySegment o, long oi, long os, int n, int elemBytes) {
        for (int i = 0; i < n; i++) {
            boolean pick = c.get(ValueLayout.JAVA_BYTE, ci + i * cs) != 0;
            MemorySegment src = pick ? a : b;
            long si = pick ? ai + i * as : bi + i * bs;
            long di = oi + i * os;
            switch (elemBytes) {
                case 1 -> o.set(ValueLayout.JAVA_BYTE, di, src.get(ValueLayout.JAVA_BYTE, si));
                case 2 -> o.setAtIndex(Storage.I16, di, src.getAtIndex(Storage.I16, si));
                case 4 -> o.setAtIndex(Storage.I32, di, src.getAtIndex(Storage.I32, si));
                default -> o.setAtIndex(Storage.I64, di, src.getAtIndex(Storage.I64, si));
            }
        }
    }
}
