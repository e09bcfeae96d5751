package dev.kiln.backend.cpu;

import dev.kiln.ops.BinaryOp;
import dev.kiln.tensor.Storage;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Binary row kernels for F32 and F64: out = a op b, comparisons write BOOL bytes (0/1). Each
 * operand's row stride is 0 (broadcast scalar, loaded once) or 1 (vector loads); other strides are
 * gathered into scratch buffers first. MAX/MIN propagate NaN like torch.maximum (Java's Math.max
 * semantics, which the Vector API follows). Offsets and strides are in elements.
 */
final class ElemBinary {
    private ElemBinary() {}

    private static final VectorSpecies<Float> SF = CpuConfig.F32;
    private static final VectorSpecies<Double> SD = CpuConfig.F64;
    private static final int LF = SF.length(), LD = SD.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Byte species with as many lanes as SF / SD (null when none exists, e.g. 4 lanes). */
    static final VectorSpecies<Byte> BF = byteSpecies(LF), BD = byteSpecies(LD);

    private static VectorSpecies<Byte> byteSpecies(int lanes) {
        int bits = lanes * 8;
        if (bits < 64 || bits > VectorShape.preferredShape().vectorBitSize()) return null;
        return VectorSpecies.of(byte.class, VectorShape.forBitSize(bits));
    }

    static int cost(BinaryOp op) { return op == BinaryOp.POW ? 16 : 1; }

    // ------------------------------------------------------------------ scalar

    /** Whether the CPU runs op in vector code for t (F32 or F64), else its reference per element: for the op table. */
    static boolean hasVectorForm(BinaryOp op, dev.kiln.tensor.DType t) {
        if (op.isComparison()) return (t == dev.kiln.tensor.DType.F32 ? BF : BD) != null;
        return t == dev.kiln.tensor.DType.F32 || op != BinaryOp.POW;
    }

    /** op(x, y) in double: the op's reference (comparisons 1 or 0). */
    static double apply(BinaryOp op, double x, double y) { return op.reference(x, y); }

    static boolean compare(BinaryOp op, double x, double y) {
        return switch (op) {
            case EQ -> x == y;
            case NE -> x != y;
            case LT -> x < y;
            case LE -> x <= y;
            case GT -> x > y;
            case GE -> x >= y;
            default -> throw new IllegalStateException(op + " is not a comparison");
        };
    }

    // ------------------------------------------------------------------ F32

    /** A row of F32 operands (any strides); out is F32, or BOOL for comparisons. */
    static void f32(BinaryOp op, MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                    MemorySegment o, long oi, long os, int n, boolean scalar, ElemRows.Scratch s) {
        if (scalar || os != 1) {
            scalarF32(op, a, ai, as, b, bi, bs, o, oi, os, n);
            return;
        }
        if (op == BinaryOp.POW) {
            powF32(a, ai, as, b, bi, bs, o, oi, n, s);
            return;
        }
        boolean ga = as != 0 && as != 1, gb = bs != 0 && bs != 1;
        if (!ga && !gb) {
            rowF32(op, a, ai, as, b, bi, bs, o, oi, n);
            return;
        }
        for (int p = 0; p < n; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, n - p);
            MemorySegment pa = a, pb = b;
            long pai = ai + p * as, pbi = bi + p * bs;
            if (ga) { ElemUnary.gatherF32(a, pai, as, pa = s.buf(0), m); pai = 0; }
            if (gb) { ElemUnary.gatherF32(b, pbi, bs, pb = s.buf(1), m); pbi = 0; }
            rowF32(op, pa, pai, ga ? 1 : as, pb, pbi, gb ? 1 : bs, o, oi + p, m);
        }
    }

    private static void scalarF32(BinaryOp op, MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                                  MemorySegment o, long oi, long os, int n) {
        boolean cmp = op.isComparison();
        for (int i = 0; i < n; i++) {
            double x = a.getAtIndex(Storage.F32, ai + i * as), y = b.getAtIndex(Storage.F32, bi + i * bs);
            if (cmp) o.set(ValueLayout.JAVA_BYTE, oi + i * os, (byte) (compare(op, x, y) ? 1 : 0));
            else o.setAtIndex(Storage.F32, oi + i * os, (float) apply(op, x, y));
        }
    }

    /** Row with operand strides in {0, 1} and a contiguous out. */
    private static void rowF32(BinaryOp op, MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                               MemorySegment o, long oi, int n) {
        int done;
        if (op.isComparison()) done = BF == null ? 0 : cmpRowF32(op, a, ai, as, b, bi, bs, o, oi, n);
        else if (as == 1 && bs == 1) {
            done = ElemStream.binary(op, a, ai, b, bi, o, oi, n);
            if (done == 0) done = vvF32(op, a, ai, b, bi, o, oi, n);
        }
        else if (as == 1) done = vsF32(op, a, ai, b.getAtIndex(Storage.F32, bi), o, oi, n);
        else if (bs == 1) done = svF32(op, a.getAtIndex(Storage.F32, ai), b, bi, o, oi, n);
        else done = 0;
        if (done < n) scalarF32(op, a, ai + done * as, as, b, bi + done * bs, bs, o, oi + done, 1, n - done);
    }

    /** POW in passes over blocks (see ElemUnary): l = log|a|, l = e^(b l), out = sign/NaN fix-ups. */
    private static void powF32(MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                               MemorySegment o, long oi, int n, ElemRows.Scratch s) {
        MemorySegment l = s.buf(2);
        int full = SF.loopBound(n);
        for (int p = 0; p < full; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, full - p);
            MemorySegment pa = a, pb = b;
            long pai = ai + p * as, pbi = bi + p * bs;
            if (as != 1) { ElemUnary.gatherF32(a, pai, as, pa = s.buf(0), m); pai = 0; }
            if (bs != 1) { ElemUnary.gatherF32(b, pbi, bs, pb = s.buf(1), m); pbi = 0; }
            ElemUnary.logAbsPass(pa, pai, l, m);
            powExpPass(pb, pbi, l, m);
            powFixPass(pa, pai, pb, pbi, l, o, oi + p, m);
        }
        scalarF32(BinaryOp.POW, a, ai + full * as, as, b, bi + full * bs, bs, o, oi + full, 1, n - full);
    }

    private static void powExpPass(MemorySegment b, long bi, MemorySegment l, int m) {
        for (int i = 0; i < m; i += LF) ElemUnary.stF(ElemVecF32.exp(ElemUnary.ldF(b, bi + i).mul(ElemUnary.ldF(l, i))), l, i);
    }

    private static void powFixPass(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment e, MemorySegment o, long oi, int m) {
        for (int i = 0; i < m; i += LF)
            ElemUnary.stF(ElemVecF32.powFix(ElemUnary.ldF(a, ai + i), ElemUnary.ldF(b, bi + i), ElemUnary.ldF(e, i)), o, oi + i);
    }

    /*
     * The three loops below switch on op once, outside the loop, with a literal operator per case.
     * With the switch inside the loop (opF32 per vector), C2 hoisted the op test out of the loop as
     * a profiled predicate (the op the profile saw, e.g. ADD) and every call with another op trapped
     * ("profile_predicate"), dropped the method to the interpreter and recompiled it, about once a
     * second for good: in a BERT-base run every fifth call took twice its time. Keep it this way.
     */

    private static int vvF32(BinaryOp op, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int n) {
        int up = SF.loopBound(n);
        switch (op) {
            case ADD -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).add(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case SUB -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).sub(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case MUL -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).mul(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case DIV -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).div(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case MAX -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).max(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case MIN -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).min(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            default -> throw new IllegalStateException(op.name());
        }
        return up;
    }

    /** a[i] op y, with y broadcast: per op its own loop (see vvF32). */
    private static int vsF32(BinaryOp op, MemorySegment a, long ai, float y, MemorySegment o, long oi, int n) {
        int up = SF.loopBound(n);
        FloatVector v = FloatVector.broadcast(SF, y);
        switch (op) {
            case ADD -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).add(v), o, oi + i); }
            case SUB -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).sub(v), o, oi + i); }
            case MUL -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).mul(v), o, oi + i); }
            case DIV -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).div(v), o, oi + i); }
            case MAX -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).max(v), o, oi + i); }
            case MIN -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(ElemUnary.ldF(a, ai + i).min(v), o, oi + i); }
            default -> throw new IllegalStateException(op.name());
        }
        return up;
    }

    /** x op b[i], with x broadcast: per op its own loop (see vvF32). */
    private static int svF32(BinaryOp op, float x, MemorySegment b, long bi, MemorySegment o, long oi, int n) {
        int up = SF.loopBound(n);
        FloatVector v = FloatVector.broadcast(SF, x);
        switch (op) {
            case ADD -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(v.add(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case SUB -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(v.sub(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case MUL -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(v.mul(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case DIV -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(v.div(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case MAX -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(v.max(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            case MIN -> { for (int i = 0; i < up; i += LF) ElemUnary.stF(v.min(ElemUnary.ldF(b, bi + i)), o, oi + i); }
            default -> throw new IllegalStateException(op.name());
        }
        return up;
    }

    /** The comparison with a literal operator per case (the Vector API intrinsifies constant operators only). */
    private static VectorMask<Float> cmpF32(BinaryOp op, FloatVector x, FloatVector y) {
        return switch (op) {
            case EQ -> x.compare(VectorOperators.EQ, y);
            case NE -> x.compare(VectorOperators.NE, y);
            case LT -> x.compare(VectorOperators.LT, y);
            case LE -> x.compare(VectorOperators.LE, y);
            case GT -> x.compare(VectorOperators.GT, y);
            case GE -> x.compare(VectorOperators.GE, y);
            default -> throw new IllegalStateException(op.name());
        };
    }

    private static VectorMask<Double> cmpF64(BinaryOp op, DoubleVector x, DoubleVector y) {
        return switch (op) {
            case EQ -> x.compare(VectorOperators.EQ, y);
            case NE -> x.compare(VectorOperators.NE, y);
            case LT -> x.compare(VectorOperators.LT, y);
            case LE -> x.compare(VectorOperators.LE, y);
            case GT -> x.compare(VectorOperators.GT, y);
            case GE -> x.compare(VectorOperators.GE, y);
            default -> throw new IllegalStateException(op.name());
        };
    }

    /** Comparison row; a stride-0 operand is broadcast once. */
    private static int cmpRowF32(BinaryOp op, MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                              MemorySegment o, long oi, int n) {
        FloatVector va = FloatVector.broadcast(SF, a.getAtIndex(Storage.F32, ai));
        FloatVector vb = FloatVector.broadcast(SF, b.getAtIndex(Storage.F32, bi));
        ByteVector zero = ByteVector.zero(BF);
        int i = 0;
        for (int up = SF.loopBound(n); i < up; i += LF) {
            FloatVector x = as == 1 ? ElemUnary.ldF(a, ai + i) : va;
            FloatVector y = bs == 1 ? ElemUnary.ldF(b, bi + i) : vb;
            VectorMask<Float> m = cmpF32(op, x, y);
            zero.blend((byte) 1, m.cast(BF)).intoMemorySegment(o, oi + i, LE);
        }
        return i;
    }

    // ------------------------------------------------------------------ F64

    /** A row of F64 operands (any strides); out is F64, or BOOL for comparisons. */
    static void f64(BinaryOp op, MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                    MemorySegment o, long oi, long os, int n, boolean scalar, ElemRows.Scratch s) {
        if (scalar || os != 1 || op == BinaryOp.POW) {
            scalarF64(op, a, ai, as, b, bi, bs, o, oi, os, n);
            return;
        }
        boolean ga = as != 0 && as != 1, gb = bs != 0 && bs != 1;
        if (!ga && !gb) {
            rowF64(op, a, ai, as, b, bi, bs, o, oi, n);
            return;
        }
        for (int p = 0; p < n; p += ElemRows.BUF) {
            int m = Math.min(ElemRows.BUF, n - p);
            MemorySegment pa = a, pb = b;
            long pai = ai + p * as, pbi = bi + p * bs;
            if (ga) { ElemUnary.gatherF64(a, pai, as, pa = s.buf(0), m); pai = 0; }
            if (gb) { ElemUnary.gatherF64(b, pbi, bs, pb = s.buf(1), m); pbi = 0; }
            rowF64(op, pa, pai, ga ? 1 : as, pb, pbi, gb ? 1 : bs, o, oi + p, m);
        }
    }

    private static void scalarF64(BinaryOp op, MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                                  MemorySegment o, long oi, long os, int n) {
        boolean cmp = op.isComparison();
        for (int i = 0; i < n; i++) {
            double x = a.getAtIndex(Storage.F64, ai + i * as), y = b.getAtIndex(Storage.F64, bi + i * bs);
            if (cmp) o.set(ValueLayout.JAVA_BYTE, oi + i * os, (byte) (compare(op, x, y) ? 1 : 0));
            else o.setAtIndex(Storage.F64, oi + i * os, apply(op, x, y));
        }
    }

    /** Row with operand strides in {0, 1}: one loop, the op switch and the broadcast choice inside. */
    private static void rowF64(BinaryOp op, MemorySegment a, long ai, long as, MemorySegment b, long bi, long bs,
                               MemorySegment o, long oi, int n) {
        int i = 0;
        boolean cmp = op.isComparison();
        if (!cmp || BD != null) {
            DoubleVector va = DoubleVector.broadcast(SD, a.getAtIndex(Storage.F64, ai));
            DoubleVector vb = DoubleVector.broadcast(SD, b.getAtIndex(Storage.F64, bi));
            for (int up = SD.loopBound(n); i < up; i += LD) {
                DoubleVector x = as == 1 ? ElemUnary.ldD(a, ai + i) : va;
                DoubleVector y = bs == 1 ? ElemUnary.ldD(b, bi + i) : vb;
                if (cmp) ByteVector.zero(BD).blend((byte) 1, cmpF64(op, x, y).cast(BD)).intoMemorySegment(o, oi + i, LE);
                else opF64(op, x, y).intoMemorySegment(o, (oi + i) * 8, LE);
            }
        }
        if (i < n) scalarF64(op, a, ai + i * as, as, b, bi + i * bs, bs, o, oi + i, 1, n - i);
    }

    private static DoubleVector opF64(BinaryOp op, DoubleVector x, DoubleVector y) {
        return switch (op) {
            case ADD -> x.add(y);
            case SUB -> x.sub(y);
            case MUL -> x.mul(y);
            case DIV -> x.div(y);
            case MAX -> x.max(y);
            case MIN -> x.min(y);
            default -> throw new IllegalStateException(op.name());
        };
    }
}
