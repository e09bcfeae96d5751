package dev.kiln.backend.cpu;

import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Fused activation backward kernels: one pass over (g, x) instead of a comparison, a cast and a
 * multiply. ReLU's is the hot one in CNN training; the smooth activations of transformers (GELU,
 * tanh GELU, SiLU) are here too, each in two passes over L1-resident blocks instead of a dozen
 * elementwise ops over the whole tensor.
 */
final class CpuActivationGrad {
    private CpuActivationGrad() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static void reluBackward(Tensor g, Tensor x, Tensor out) {
        DType t = out.dtype();
        if (g.dtype() != t || x.dtype() != t || !t.isFloating())
            throw new IllegalArgumentException("relu_backward: dtypes " + g.dtype() + ", " + x.dtype() + " -> " + t);
        MemorySegment gs = g.segment(), xs = x.segment(), os = out.segment();
        Storage gst = g.storage(), xst = x.storage(), ost = out.storage();
        boolean vec = !CpuConfig.scalar() && (t == DType.F32 || t == DType.F64);
        Rows.forEach(out.shape(), new long[][]{g.strides(), x.strides(), out.strides()}, new long[]{g.offset(), x.offset(), out.offset()},
                (offs, n, in) -> {
                    if (vec && in[0] == 1 && in[1] == 1 && in[2] == 1) {
                        if (t == DType.F32) rowF32(gs, offs[0] * 4, xs, offs[1] * 4, os, offs[2] * 4, n);
                        else rowF64(gs, offs[0] * 8, xs, offs[1] * 8, os, offs[2] * 8, n);
                        return;
                    }
                    long gi = offs[0], xi = offs[1], oi = offs[2];
                    for (int i = 0; i < n; i++, gi += in[0], xi += in[1], oi += in[2])
                        ost.setDouble(t, oi, xst.getDouble(t, xi) > 0 ? gst.getDouble(t, gi) : 0.0);
                });
    }

    /**
     * out = g * f'(x) for GELU (y = gelu(x) is used: Phi(x) = y / x), GELU_TANH and SILU, all
     * tensors contiguous, of one shape and dtype (F32 or F64). False where it does not apply.
     * tanh GELU and SiLU share one form: with s = 1 / (1 + e^w), f' = s (1 + k x (1 - s)),
     * where w = -2u, k = 2 du/dx for tanh GELU (u = sqrt(2/pi) (x + 0.044715 x^3)) and w = -x,
     * k = 1 for SiLU. Exact GELU: f' = Phi(x) + x e^(-x^2/2) / sqrt(2 pi).
     */
    static boolean smoothBackward(UnaryOp op, Tensor g, Tensor x, Tensor y, Tensor out) {
        DType t = out.dtype();
        boolean gelu = op == UnaryOp.GELU;
        if (!gelu && op != UnaryOp.GELU_TANH && op != UnaryOp.SILU) return false;
        if ((t != DType.F32 && t != DType.F64) || g.dtype() != t || x.dtype() != t || (gelu && (y == null || y.dtype() != t)))
            return false;
        for (Tensor a : gelu ? new Tensor[]{g, x, y, out} : new Tensor[]{g, x, out})
            if (!a.isContiguous() || a.numel() != out.numel()) return false;
        long n = out.numel();
        MemorySegment gs = g.segment(), xs = x.segment(), ys = gelu ? y.segment() : null, os = out.segment();
        Storage gst = g.storage(), xst = x.storage(), yst = gelu ? y.storage() : null, ost = out.storage();
        long go = g.offset(), xo = x.offset(), yo = gelu ? y.offset() : 0, oo = out.offset();
        boolean vec = !CpuConfig.scalar() && t == DType.F32;
        int pieces = (int) ((n + PIECE - 1) / PIECE);
        Parallel.forRange(pieces, PIECE * 16L, (p0, p1) -> {
            long lo = (long) p0 * PIECE, hi = Math.min(n, (long) p1 * PIECE);
            long i = vec ? smoothF32(op, gs, go, xs, xo, ys, yo, os, oo, lo, hi) : lo;
            for (; i < hi; i++) {
                double d = derivative(op, xst.getDouble(t, xo + i), gelu ? yst.getDouble(t, yo + i) : 0);
                ost.setDouble(t, oo + i, gst.getDouble(t, go + i) * d);
            }
        });
        return true;
    }

    /** Elements per parallel piece of the smooth activations' backward (a multiple of ElemRows.BUF). */
    private static final int PIECE = 1 << 14;
    private static final double INV_SQRT_2PI = 0.3989422804014327;

    /** f'(x) in double (y = gelu(x) for GELU). */
    static double derivative(UnaryOp op, double x, double y) {
        return switch (op) {
            case GELU -> (x == 0 ? 0.5 : y / x) + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI;
            case GELU_TANH -> {
                double s = 1 / (1 + Math.exp(-2 * dev.kiln.ops.ScalarMath.GELU_K * (x + dev.kiln.ops.ScalarMath.GELU_C * x * x * x)));
                double k = 2 * dev.kiln.ops.ScalarMath.GELU_K * (1 + 3 * dev.kiln.ops.ScalarMath.GELU_C * x * x);
                yield s == 0 ? 0 : s * (1 + k * x * (1 - s));
            }
            case SILU -> {
                double s = 1 / (1 + Math.exp(-x));
                yield s == 0 ? 0 : s * (1 + x * (1 - s));
            }
            default -> throw new IllegalArgumentException(op + " has no fused backward");
        };
    }

    /** The vector part of [lo, hi) in blocks of ElemRows.BUF: returns where the scalar tail starts. */
    private static long smoothF32(UnaryOp op, MemorySegment g, long go, MemorySegment x, long xo, MemorySegment y, long yo,
                                  MemorySegment o, long oo, long lo, long hi) {
        var sp = CpuConfig.F32;
        int full = sp.loopBound((int) (hi - lo));
        MemorySegment e = ElemRows.Scratch.get().buf(0);
        for (int p = 0; p < full; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, full - p);
            long xb = (xo + lo + p) * 4, gb = (go + lo + p) * 4, ob = (oo + lo + p) * 4;
            if (op == UnaryOp.GELU) {
                expHalfSquarePass(x, xb, e, m);
                geluFinishPass(g, gb, x, xb, y, (yo + lo + p) * 4, e, o, ob, m);
            } else {
                sigmoidExpPass(op == UnaryOp.GELU_TANH, x, xb, e, m);
                sigmoidFinishPass(op == UnaryOp.GELU_TANH, g, gb, x, xb, e, o, ob, m);
            }
        }
        return lo + full;
    }

    /** e = exp(w): w = -2u (tanh GELU) or -x (SiLU). Offsets in bytes, e from 0. */
    private static void sigmoidExpPass(boolean geluTanh, MemorySegment x, long xb, MemorySegment e, int m) {
        var sp = CpuConfig.F32;
        for (int i = 0; i < m; i += sp.length()) {
            FloatVector v = FloatVector.fromMemorySegment(sp, x, xb + i * 4L, LE);
            ElemVecF32.exp(geluTanh ? ElemVecF32.geluTanhArg(v) : v.neg()).intoMemorySegment(e, i * 4L, LE);
        }
    }

    /** out = g * s (1 + k x (1 - s)), s = 1 / (1 + e); 0 where s is 0. */
    private static void sigmoidFinishPass(boolean geluTanh, MemorySegment g, long gb, MemorySegment x, long xb, MemorySegment e,
                                          MemorySegment o, long ob, int m) {
        var sp = CpuConfig.F32;
        FloatVector one = FloatVector.broadcast(sp, 1f), zero = FloatVector.zero(sp);
        float k0 = (float) (2 * dev.kiln.ops.ScalarMath.GELU_K), k2 = (float) (6 * dev.kiln.ops.ScalarMath.GELU_K * dev.kiln.ops.ScalarMath.GELU_C);
        for (int i = 0; i < m; i += sp.length()) {
            long b = i * 4L;
            FloatVector v = FloatVector.fromMemorySegment(sp, x, xb + b, LE);
            FloatVector s = one.div(FloatVector.fromMemorySegment(sp, e, b, LE).add(one));
            FloatVector kx = geluTanh ? v.mul(v).fma(FloatVector.broadcast(sp, k2), FloatVector.broadcast(sp, k0)).mul(v) : v;
            FloatVector d = kx.mul(one.sub(s)).add(one).mul(s);
            d = d.blend(zero, s.compare(VectorOperators.EQ, 0f));
            FloatVector.fromMemorySegment(sp, g, gb + b, LE).mul(d).intoMemorySegment(o, ob + b, LE);
        }
    }

    /** e = exp(-x^2 / 2). */
    private static void expHalfSquarePass(MemorySegment x, long xb, MemorySegment e, int m) {
        var sp = CpuConfig.F32;
        for (int i = 0; i < m; i += sp.length()) {
            FloatVector v = FloatVector.fromMemorySegment(sp, x, xb + i * 4L, LE);
            ElemVecF32.exp(v.mul(v).mul(-0.5f)).intoMemorySegment(e, i * 4L, LE);
        }
    }

    /** out = g * (Phi + x e / sqrt(2 pi)), Phi = y / x (0.5 at x = 0). */
    private static void geluFinishPass(MemorySegment g, long gb, MemorySegment x, long xb, MemorySegment y, long yb, MemorySegment e,
                                       MemorySegment o, long ob, int m) {
        var sp = CpuConfig.F32;
        FloatVector half = FloatVector.broadcast(sp, 0.5f);
        for (int i = 0; i < m; i += sp.length()) {
            long b = i * 4L;
            FloatVector v = FloatVector.fromMemorySegment(sp, x, xb + b, LE);
            FloatVector phi = FloatVector.fromMemorySegment(sp, y, yb + b, LE).div(v).blend(half, v.compare(VectorOperators.EQ, 0f));
            FloatVector d = v.mul(FloatVector.fromMemorySegment(sp, e, b, LE)).fma(FloatVector.broadcast(sp, (float) INV_SQRT_2PI), phi);
            FloatVector.fromMemorySegment(sp, g, gb + b, LE).mul(d).intoMemorySegment(o, ob + b, LE);
        }
    }

    private static void rowF32(MemorySegment g, long go, MemorySegment x, long xo, MemorySegment o, long oo, int n) {
        var sp = CpuConfig.F32;
        int step = sp.length(), i = 0;
        FloatVector zero = FloatVector.zero(sp);
        for (; i <= n - step; i += step) {
            long b = (long) i * 4;
            FloatVector xv = FloatVector.fromMemorySegment(sp, x, xo + b, LE);
            FloatVector gv = FloatVector.fromMemorySegment(sp, g, go + b, LE);
            zero.blend(gv, xv.compare(VectorOperators.GT, 0f)).intoMemorySegment(o, oo + b, LE);
        }
        for (; i < n; i++) {
            long b = (long) i * 4;
            o.set(Storage.F32, oo + b, x.get(Storage.F32, xo + b) > 0 ? g.get(Storage.F32, go + b) : 0f);
        }
    }

    private static void rowF64(MemorySegment g, long go, MemorySegment x, long xo, MemorySegment o, long oo, int n) {
        var sp = CpuConfig.F64;
        int step = sp.length(), i = 0;
        DoubleVector zero = DoubleVector.zero(sp);
        for (; i <= n - step; i += step) {
            long b = (long) i * 8;
            DoubleVector xv = DoubleVector.fromMemorySegment(sp, x, xo + b, LE);
            DoubleVector gv = DoubleVector.fromMemorySegment(sp, g, go + b, LE);
            zero.blend(gv, xv.compare(VectorOperators.GT, 0d)).intoMemorySegment(o, oo + b, LE);
        }
        for (; i < n; i++) {
            long b = (long) i * 8;
            o.set(Storage.F64, oo + b, x.get(Storage.F64, xo + b) > 0 ? g.get(Storage.F64, go + b) : 0d);
        }
    }
}
