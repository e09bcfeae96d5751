package dev.kiln.backend.cpu;

import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.Storage;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Unary row kernels for F32 and F64: out[0..n) = op(x[0..n)). One small vector loop per op (the
 * op switch outside the loop; only the one-instruction F64 ops share a loop), returning how many
 * elements it did; the rest (the tail, or all of a row for ops without a vector form) goes
 * through {@link ElemMath} in double. Strided rows are gathered into a scratch buffer first, so
 * they take the vector path too. Heavy ops run as passes (see the comment above tanhF32).
 * Offsets and strides are in elements. F64 log, tanh, sin, cos, erf, exact GELU and general pow
 * have no vector form (ElemMath per element).
 */
final class ElemUnary {
    private ElemUnary() {}

    private static final VectorSpecies<Float> SF = CpuConfig.F32;
    private static final VectorSpecies<Double> SD = CpuConfig.F64;
    private static final int LF = SF.length(), LD = SD.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Relative cost of an op (per element), for the threading decision. */
    static int cost(UnaryOp op) {
        return switch (op) {
            case NEG, ABS, RELU, CLAMP, SQUARE, SQRT, RSQRT, RECIPROCAL, FLOOR, CEIL, ROUND, SIGN -> 1;
            default -> 8;
        };
    }

    // ------------------------------------------------------------------ F32

    /** A row of F32: x with element stride xs (any), out with stride os. */
    static void f32(UnaryOp op, MemorySegment x, long xi, long xs, MemorySegment o, long oi, long os, int n,
                    double a, double b, boolean scalar, ElemRows.Scratch s) {
        if (scalar || os != 1) {
            for (int i = 0; i < n; i++)
                o.setAtIndex(Storage.F32, oi + i * os, (float) op.reference(x.getAtIndex(Storage.F32, xi + i * xs), a, b));
        } else if (xs == 1) {
            rowF32(op, x, xi, o, oi, n, (float) a, (float) b, s);
        } else {
            MemorySegment buf = s.buf(0);
            for (int p = 0; p < n; p += ElemRows.BUF) {
                int m = Math.min(ElemRows.BUF, n - p);
                gatherF32(x, xi + p * xs, xs, buf, m);
                rowF32(op, buf, 0, o, oi + p, m, (float) a, (float) b, s);
            }
        }
    }

    static void gatherF32(MemorySegment x, long xi, long xs, MemorySegment buf, int m) {
        for (int j = 0; j < m; j++) buf.setAtIndex(Storage.F32, j, x.getAtIndex(Storage.F32, xi + j * xs));
    }

    /** Contiguous F32 row; s supplies pass buffers 1-3 (x may be buffer 0). */
    static void rowF32(UnaryOp op, MemorySegment x, long xi, MemorySegment o, long oi, int n, float a, float b, ElemRows.Scratch s) {
        int done = switch (op) {
            case NEG -> negF32(x, xi, o, oi, n);
            case ABS -> absF32(x, xi, o, oi, n);
            case EXP -> expF32(x, xi, o, oi, n);
            case LOG -> logF32(x, xi, o, oi, n);
            case SQRT -> sqrtF32(x, xi, o, oi, n);
            case RSQRT -> rsqrtF32(x, xi, o, oi, n);
            case TANH -> tanhF32(x, xi, o, oi, n, s);
            case SIGMOID -> sigmoidF32(x, xi, o, oi, n);
            case RELU -> clampF32(x, xi, o, oi, n, 0f, Float.POSITIVE_INFINITY);
            case GELU -> geluF32(x, xi, o, oi, n, s);
            case GELU_TANH -> geluTanhF32(x, xi, o, oi, n, s);
            case SILU -> siluF32(x, xi, o, oi, n);
            case SIN -> sinCosF32(x, xi, o, oi, n, 0);
            case COS -> sinCosF32(x, xi, o, oi, n, 1);
            case POW_SCALAR -> powF32(x, xi, o, oi, n, a, s);
            case CLAMP -> clampF32(x, xi, o, oi, n, a, b);
            case RECIPROCAL -> reciprocalF32(x, xi, o, oi, n);
            case SQUARE -> squareF32(x, xi, o, oi, n);
            case FLOOR, CEIL, ROUND, SIGN -> roundingF32(op, x, xi, o, oi, n);
            case ERF -> erfF32(x, xi, o, oi, n, s);
            default -> 0;   // no vector form: the reference per element
        };
        scalarF32(op, x, xi + done, o, oi + done, n - done, a, b);
    }

    /** out[0..n) = op(x[0..n)) in scalar code (double precision, rounded once). */
    private static void scalarF32(UnaryOp op, MemorySegment x, long xi, MemorySegment o, long oi, int n, double a, double b) {
        for (int i = 0; i < n; i++)
            o.setAtIndex(Storage.F32, oi + i, (float) op.reference(x.getAtIndex(Storage.F32, xi + i), a, b));
    }

    static FloatVector ldF(MemorySegment s, long i) { return FloatVector.fromMemorySegment(SF, s, i * 4, LE); }
    static void stF(FloatVector v, MemorySegment s, long i) { v.intoMemorySegment(s, i * 4, LE); }

    private static int negF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) stF(ldF(x, xi + i).neg(), o, oi + i);
        return i;
    }

    private static int absF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) stF(ldF(x, xi + i).abs(), o, oi + i);
        return i;
    }

    private static int expF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = ElemStream.exp(x, xi, o, oi, n);
        if (i > 0) return i;
        for (int up = SF.loopBound(n); i < up; i += LF) stF(ElemVecF32.exp(ldF(x, xi + i)), o, oi + i);
        return i;
    }

    /** log; a vector with a lane outside the positive normal finite range is done in scalar code. */
    private static int logF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) {
            FloatVector v = ldF(x, xi + i);
            if (ElemVecF32.logDomain(v)) stF(ElemVecF32.log(v), o, oi + i);
            else scalarF32(UnaryOp.LOG, x, xi + i, o, oi + i, LF, 0, 0);
        }
        return i;
    }

    private static int sqrtF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) stF(ldF(x, xi + i).sqrt(), o, oi + i);
        return i;
    }

    private static int rsqrtF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        FloatVector one = FloatVector.broadcast(SF, 1f);
        for (int up = SF.loopBound(n); i < up; i += LF) stF(one.div(ldF(x, xi + i).sqrt()), o, oi + i);
        return i;
    }

    private static int sigmoidF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) stF(ElemVecF32.sigmoid(ldF(x, xi + i)), o, oi + i);
        return i;
    }

    private static int siluF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) {
            FloatVector v = ldF(x, xi + i);
            stF(ElemVecF32.xOverOnePlusExp(v, v.neg()), o, oi + i);
        }
        return i;
    }

    /** sin (quadrant 0) or cos (1); a vector with any |x| > TRIG_MAX is done in scalar code. */
    private static int sinCosF32(MemorySegment x, long xi, MemorySegment o, long oi, int n, int quadrant) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) {
            FloatVector v = ldF(x, xi + i);
            if (v.abs().compare(VectorOperators.GT, ElemVecF32.TRIG_MAX).anyTrue())
                scalarF32(quadrant == 0 ? UnaryOp.SIN : UnaryOp.COS, x, xi + i, o, oi + i, LF, 0, 0);
            else
                stF(ElemVecF32.sinCos(v, quadrant), o, oi + i);
        }
        return i;
    }

    private static int clampF32(MemorySegment x, long xi, MemorySegment o, long oi, int n, float lo, float hi) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) stF(ldF(x, xi + i).max(lo).min(hi), o, oi + i);
        return i;
    }

    private static int reciprocalF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        FloatVector one = FloatVector.broadcast(SF, 1f);
        for (int up = SF.loopBound(n); i < up; i += LF) stF(one.div(ldF(x, xi + i)), o, oi + i);
        return i;
    }

    private static int squareF32(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) {
            FloatVector v = ldF(x, xi + i);
            stF(v.mul(v), o, oi + i);
        }
        return i;
    }

    /** FLOOR, CEIL, ROUND, SIGN: a few instructions each, one loop per op (the switch outside: see ElemBinary.vvF32). */
    private static int roundingF32(UnaryOp op, MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int up = SF.loopBound(n);
        switch (op) {
            case FLOOR -> { for (int i = 0; i < up; i += LF) stF(ElemVecF32.floor(ldF(x, xi + i)), o, oi + i); }
            case CEIL -> { for (int i = 0; i < up; i += LF) stF(ElemVecF32.ceil(ldF(x, xi + i)), o, oi + i); }
            case ROUND -> { for (int i = 0; i < up; i += LF) stF(ElemVecF32.rint(ldF(x, xi + i)), o, oi + i); }
            default -> { for (int i = 0; i < up; i += LF) stF(ElemVecF32.sign(ldF(x, xi + i)), o, oi + i); }
        }
        return up;
    }

    /*
     * Multi-pass ops. C2 stops inlining once a compilation holds ~18K IR nodes, which one inlined
     * Vector API call of ~50 uses up (a loop with two exps already overflows; the vectors then
     * get boxed, ~20x slower). So tanh, GELU, tanh-GELU and pow run as passes over blocks of
     * ElemRows.BUF elements through L1-resident scratch buffers; each pass loop is its own
     * compilation unit (once compiled, C2 will not inline it into the caller). Passes cover
     * whole vectors only; the caller finishes the tail in scalar code.
     */

    private static int tanhF32(MemorySegment x, long xi, MemorySegment o, long oi, int n, ElemRows.Scratch s) {
        int full = SF.loopBound(n);
        MemorySegment e = s.buf(1);
        for (int p = 0; p < full; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, full - p);
            expNeg2AbsPass(x, xi + p, e, m);
            tanhFinishPass(x, xi + p, e, o, oi + p, m);
        }
        return full;
    }

    private static void expNeg2AbsPass(MemorySegment x, long xi, MemorySegment e, int m) {
        for (int i = 0; i < m; i += LF) stF(ElemVecF32.exp(ldF(x, xi + i).abs().mul(-2f)), e, i);
    }

    private static void tanhFinishPass(MemorySegment x, long xi, MemorySegment e, MemorySegment o, long oi, int m) {
        for (int i = 0; i < m; i += LF) stF(ElemVecF32.tanhFinish(ldF(x, xi + i), ldF(e, i)), o, oi + i);
    }

    private static int geluF32(MemorySegment x, long xi, MemorySegment o, long oi, int n, ElemRows.Scratch s) {
        int done = ElemNative.gelu(x, xi, o, oi, n);
        if (done > 0) return done;
        int full = SF.loopBound(n);
        MemorySegment t = s.buf(1), e = s.buf(2);
        for (int p = 0; p < full; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, full - p);
            geluPrepPass(x, xi + p, t, e, m);
            geluExpPass(x, xi + p, e, m);
            geluFinishPass(x, xi + p, t, e, o, oi + p, m);
        }
        return full;
    }

    private static void geluPrepPass(MemorySegment x, long xi, MemorySegment t, MemorySegment e, int m) {
        for (int i = 0; i < m; i += LF) {
            FloatVector v = ldF(x, xi + i);
            FloatVector tv = ElemVecF32.geluT(v);
            stF(tv, t, i);
            stF(ElemVecF32.geluExpLo(v, tv), e, i);
        }
    }

    private static void geluExpPass(MemorySegment x, long xi, MemorySegment e, int m) {
        for (int i = 0; i < m; i += LF) stF(ElemVecF32.geluExp(ldF(x, xi + i), ldF(e, i)), e, i);
    }

    private static void geluFinishPass(MemorySegment x, long xi, MemorySegment t, MemorySegment e, MemorySegment o, long oi, int m) {
        for (int i = 0; i < m; i += LF) stF(ElemVecF32.geluFinish(ldF(x, xi + i), ldF(t, i), ldF(e, i)), o, oi + i);
    }

    private static int erfF32(MemorySegment x, long xi, MemorySegment o, long oi, int n, ElemRows.Scratch s) {
        int full = SF.loopBound(n);
        MemorySegment t = s.buf(1), e = s.buf(2);
        for (int p = 0; p < full; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, full - p);
            erfPrepPass(x, xi + p, t, e, m);
            erfExpPass(x, xi + p, e, m);
            erfFinishPass(x, xi + p, t, e, o, oi + p, m);
        }
        return full;
    }

    private static void erfPrepPass(MemorySegment x, long xi, MemorySegment t, MemorySegment e, int m) {
        for (int i = 0; i < m; i += LF) {
            FloatVector v = ldF(x, xi + i);
            FloatVector tv = ElemVecF32.erfT(v);
            stF(tv, t, i);
            stF(ElemVecF32.erfExpLo(v, tv), e, i);
        }
    }

    private static void erfExpPass(MemorySegment x, long xi, MemorySegment e, int m) {
        for (int i = 0; i < m; i += LF) stF(ElemVecF32.erfExp(ldF(x, xi + i), ldF(e, i)), e, i);
    }

    private static void erfFinishPass(MemorySegment x, long xi, MemorySegment t, MemorySegment e, MemorySegment o, long oi, int m) {
        for (int i = 0; i < m; i += LF) stF(ElemVecF32.erfFinish(ldF(x, xi + i), ldF(t, i), ldF(e, i)), o, oi + i);
    }

    private static int geluTanhF32(MemorySegment x, long xi, MemorySegment o, long oi, int n, ElemRows.Scratch s) {
        int done = ElemNative.geluTanh(x, xi, o, oi, n);
        if (done > 0) return done;
        int full = SF.loopBound(n);
        MemorySegment w = s.buf(1);
        for (int p = 0; p < full; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, full - p);
            geluTanhArgPass(x, xi + p, w, m);
            xOverOnePlusExpPass(x, xi + p, w, o, oi + p, m);
        }
        return full;
    }

    private static void geluTanhArgPass(MemorySegment x, long xi, MemorySegment w, int m) {
        for (int i = 0; i < m; i += LF) stF(ElemVecF32.geluTanhArg(ldF(x, xi + i)), w, i);
    }

    private static void xOverOnePlusExpPass(MemorySegment x, long xi, MemorySegment w, MemorySegment o, long oi, int m) {
        for (int i = 0; i < m; i += LF) stF(ElemVecF32.xOverOnePlusExp(ldF(x, xi + i), ldF(w, i)), o, oi + i);
    }

    /** x^a: short exact forms for small integer / half exponents, else log and exp passes. */
    private static int powF32(MemorySegment x, long xi, MemorySegment o, long oi, int n, float a, ElemRows.Scratch s) {
        int full = SF.loopBound(n);
        if (ElemVecF32.hasPowSpecial(a)) {
            for (int i = 0; i < full; i += LF) stF(ElemVecF32.powSpecial(ldF(x, xi + i), a), o, oi + i);
            return full;
        }
        boolean integral = a == Math.rint(a);
        boolean odd = integral && Math.abs(a) < 1 << 24 && ((long) a & 1) != 0;
        MemorySegment l = s.buf(1);
        for (int p = 0; p < full; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, full - p);
            logAbsPass(x, xi + p, l, m);
            powExpPass(x, xi + p, l, a, integral, odd, o, oi + p, m);
        }
        return full;
    }

    /** l = log|x|; vectors with a zero, subnormal, inf or NaN lane are done in scalar code. */
    static void logAbsPass(MemorySegment x, long xi, MemorySegment l, int m) {
        for (int i = 0; i < m; i += LF) {
            FloatVector v = ldF(x, xi + i).abs();
            if (ElemVecF32.logDomain(v)) {
                stF(ElemVecF32.log(v), l, i);
            } else {
                for (int j = 0; j < LF; j++)
                    l.setAtIndex(Storage.F32, i + j, (float) Math.log(Math.abs(x.getAtIndex(Storage.F32, xi + i + j))));
            }
        }
    }

    private static void powExpPass(MemorySegment x, long xi, MemorySegment l, float a, boolean integral, boolean odd,
                                   MemorySegment o, long oi, int m) {
        for (int i = 0; i < m; i += LF) {
            FloatVector v = ldF(x, xi + i);
            FloatVector e = ElemVecF32.exp(ldF(l, i).mul(a));
            var neg = v.compare(VectorOperators.LT, 0f);
            if (odd) e = e.blend(e.neg(), neg);
            if (!integral) e = e.blend(Float.NaN, neg);
            stF(e, o, oi + i);
        }
    }

    // ------------------------------------------------------------------ F64

    /** A row of F64: x with element stride xs (any), out with stride os. */
    static void f64(UnaryOp op, MemorySegment x, long xi, long xs, MemorySegment o, long oi, long os, int n,
                    double a, double b, boolean scalar, ElemRows.Scratch s) {
        if (scalar || os != 1 || !hasVectorF64(op, a)) {
            for (int i = 0; i < n; i++)
                o.setAtIndex(Storage.F64, oi + i * os, op.reference(x.getAtIndex(Storage.F64, xi + i * xs), a, b));
        } else if (xs == 1) {
            rowF64(op, x, xi, o, oi, n, a, b, s);
        } else {
            MemorySegment buf = s.buf(0);
            for (int p = 0; p < n; p += ElemRows.BUF) {
                int m = Math.min(ElemRows.BUF, n - p);
                gatherF64(x, xi + p * xs, xs, buf, m);
                rowF64(op, buf, 0, o, oi + p, m, a, b, s);
            }
        }
    }

    static void gatherF64(MemorySegment x, long xi, long xs, MemorySegment buf, int m) {
        for (int j = 0; j < m; j++) buf.setAtIndex(Storage.F64, j, x.getAtIndex(Storage.F64, xi + j * xs));
    }

    /** F64 ops with a vector form (the rest run their reference per element). */
    private static boolean hasVectorF64(UnaryOp op, double a) {
        return switch (op) {
            case EXP, SIGMOID, SILU, GELU_TANH, NEG, ABS, SQRT, RSQRT, RELU, CLAMP, RECIPROCAL, SQUARE, FLOOR, CEIL, ROUND, SIGN -> true;
            case POW_SCALAR -> ElemVecF64.hasVectorPow(a);
            default -> false;
        };
    }

    /**
     * Whether the CPU runs op in vector code for dtype t (F32 or F64; with the default exponent for
     * POW_SCALAR), else its reference per element: for the op table.
     */
    public static boolean hasVectorForm(UnaryOp op, dev.kiln.tensor.DType t) {
        if (t == dev.kiln.tensor.DType.F64) return hasVectorF64(op, 2);
        return switch (op) {
            case NEG, ABS, EXP, LOG, SQRT, RSQRT, TANH, SIGMOID, RELU, GELU, GELU_TANH, SILU, SIN, COS, POW_SCALAR, CLAMP,
                 RECIPROCAL, SQUARE, FLOOR, CEIL, ROUND, SIGN, ERF -> t == dev.kiln.tensor.DType.F32;
            default -> false;
        };
    }

    static DoubleVector ldD(MemorySegment s, long i) { return DoubleVector.fromMemorySegment(SD, s, i * 8, LE); }

    static void stD(DoubleVector v, MemorySegment s, long i) { v.intoMemorySegment(s, i * 8, LE); }

    /** Contiguous F64 row of an op with a vector form. */
    static void rowF64(UnaryOp op, MemorySegment x, long xi, MemorySegment o, long oi, int n, double a, double b, ElemRows.Scratch s) {
        int done = switch (op) {
            case EXP -> expF64(x, xi, o, oi, n);
            case SIGMOID, SILU, GELU_TANH -> viaExpF64(op, x, xi, o, oi, n, s);
            case POW_SCALAR -> powF64(x, xi, o, oi, n, a);
            default -> cheapF64(op, x, xi, o, oi, n, a, b);
        };
        for (int i = done; i < n; i++)
            o.setAtIndex(Storage.F64, oi + i, op.reference(x.getAtIndex(Storage.F64, xi + i), a, b));
    }

    private static int expF64(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = SD.loopBound(n); i < up; i += LD) stD(ElemVecF64.exp(ldD(x, xi + i)), o, oi + i);
        return i;
    }

    /**
     * SIGMOID, SILU, GELU_TANH in three passes (the F64 exp fills a compilation on its own):
     * w = argument, w = e^w, out = 1 / (1 + w) or x / (1 + w).
     */
    private static int viaExpF64(UnaryOp op, MemorySegment x, long xi, MemorySegment o, long oi, int n, ElemRows.Scratch s) {
        int full = SD.loopBound(n);
        MemorySegment w = s.buf(1);
        for (int p = 0; p < full; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, full - p);
            expArgPassF64(op == UnaryOp.GELU_TANH, x, xi + p, w, m);
            expF64(w, 0, w, 0, m);
            expFinishPassF64(op == UnaryOp.SIGMOID, x, xi + p, w, o, oi + p, m);
        }
        return full;
    }

    /** w = -2u (tanh GELU) or -x (sigmoid, silu). */
    private static void expArgPassF64(boolean geluTanh, MemorySegment x, long xi, MemorySegment w, int m) {
        for (int i = 0; i < m; i += LD) {
            DoubleVector v = ldD(x, xi + i);
            stD(geluTanh ? ElemVecF64.geluTanhArg(v) : v.neg(), w, i);
        }
    }

    /** out = 1 / (1 + w) (sigmoid) or x / (1 + w). */
    private static void expFinishPassF64(boolean sigmoid, MemorySegment x, long xi, MemorySegment w, MemorySegment o, long oi, int m) {
        DoubleVector one = ElemVecF64.c(1.0);
        for (int i = 0; i < m; i += LD) {
            DoubleVector num = sigmoid ? one : ldD(x, xi + i);
            stD(num.div(ldD(w, i).add(1.0)), o, oi + i);
        }
    }

    private static int powF64(MemorySegment x, long xi, MemorySegment o, long oi, int n, double a) {
        int i = 0;
        for (int up = SD.loopBound(n); i < up; i += LD) stD(ElemVecF64.powScalarOrNull(ldD(x, xi + i), a), o, oi + i);
        return i;
    }

    /** The one-instruction F64 ops, one loop with the op switch inside (cheap enough to share). */
    private static int cheapF64(UnaryOp op, MemorySegment x, long xi, MemorySegment o, long oi, int n, double a, double b) {
        int i = 0;
        for (int up = SD.loopBound(n); i < up; i += LD) {
            DoubleVector v = ldD(x, xi + i);
            DoubleVector r = switch (op) {
                case NEG -> v.neg();
                case ABS -> v.abs();
                case SQRT -> v.sqrt();
                case RSQRT -> ElemVecF64.c(1.0).div(v.sqrt());
                case RELU -> v.max(0.0);
                case CLAMP -> v.max(a).min(b);
                case RECIPROCAL -> ElemVecF64.c(1.0).div(v);
                case SQUARE -> v.mul(v);
                case FLOOR -> ElemVecF64.floor(v);
                case CEIL -> ElemVecF64.ceil(v);
                case ROUND -> ElemVecF64.rint(v);
                case SIGN -> ElemVecF64.sign(v);
                default -> throw new IllegalStateException("no F64 vector form for " + op);
            };
            stD(r, o, oi + i);
        }
        return i;
    }
}
