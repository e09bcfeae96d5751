package dev.kiln.backend.cpu;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * CPU elementwise kernels: unary ops, binary ops (arithmetic and comparisons) and where. Operands
 * arrive already broadcast to out's shape (strides may be 0). {@link ElemRows} walks them as rows,
 * splitting large tensors (>= 64K elements) over threads; the row kernels live in
 * {@link ElemUnary}, {@link ElemBinary} (F32/F64, vector + scalar twin) and {@link ElemInt}
 * (integer and bool dtypes, scalar).
 */
final class CpuElementwise {
    private CpuElementwise() {}

    static void unary(UnaryOp op, Tensor x, Tensor out, double a, double b) {
        String name = op.name().toLowerCase();
        checkShape(name, x, out);
        DType t = out.dtype();
        if (x.dtype() != t)
            throw new IllegalArgumentException(name + ": input dtype " + x.dtype().pyName() + " != output dtype " + t.pyName());
        MemorySegment xs = x.segment(), os = out.segment();
        boolean scalar = CpuConfig.scalar();
        ElemRows.run(out.shape(), new long[][]{x.strides(), out.strides()}, new long[]{x.offset(), out.offset()},
                ElemUnary.cost(op), (offs, n, in, s) -> {
                    switch (t) {
                        case F32 -> ElemUnary.f32(op, xs, offs[0], in[0], os, offs[1], in[1], n, a, b, scalar, s);
                        case F64 -> ElemUnary.f64(op, xs, offs[0], in[0], os, offs[1], in[1], n, a, b, scalar, s);
                        case I8, I32, I64, BOOL -> ElemInt.unary(op, t, x.storage(), offs[0], in[0], out.storage(), offs[1], in[1], n, a, b);
                        default -> throw new IllegalArgumentException(name + ": no CPU kernel for " + t.pyName());
                    }
                });
    }

    static void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        String name = op.name().toLowerCase();
        checkShape(name, a, out);
        checkShape(name, b, out);
        DType t = a.dtype();
        if (b.dtype() != t)
            throw new IllegalArgumentException(name + ": operand dtypes differ: " + t.pyName() + " and " + b.dtype().pyName());
        DType want = op.isComparison() ? DType.BOOL : t;
        if (out.dtype() != want)
            throw new IllegalArgumentException(name + ": output dtype " + out.dtype().pyName() + ", expected " + want.pyName());
        MemorySegment as = a.segment(), bs = b.segment(), os = out.segment();
        boolean scalar = CpuConfig.scalar();
        ElemRows.run(out.shape(), new long[][]{a.strides(), b.strides(), out.strides()},
                new long[]{a.offset(), b.offset(), out.offset()}, ElemBinary.cost(op), (o, n, in, s) -> {
                    switch (t) {
                        case F32 -> ElemBinary.f32(op, as, o[0], in[0], bs, o[1], in[1], os, o[2], in[2], n, scalar, s);
                        case F64 -> ElemBinary.f64(op, as, o[0], in[0], bs, o[1], in[1], os, o[2], in[2], n, scalar, s);
                        case I8, I32, I64, BOOL ->
                                ElemInt.binary(op, t, a.storage(), o[0], in[0], b.storage(), o[1], in[1], out.storage(), o[2], in[2], n);
                        default -> ElemInt.binaryViaDouble(op, t, a.storage(), o[0], in[0], b.storage(), o[1], in[1],
                                out.storage(), o[2], in[2], n);
                    }
                });
    }

    static void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        checkShape("where", cond, out);
        checkShape("where", a, out);
        checkShape("where", b, out);
        if (cond.dtype() != DType.BOOL)
            throw new IllegalArgumentException("where: condition must be bool, got " + cond.dtype().pyName());
        DType t = out.dtype();
        if (a.dtype() != t || b.dtype() != t)
            throw new IllegalArgumentException("where: dtypes " + a.dtype().pyName() + " and " + b.dtype().pyName()
                    + " must equal the output dtype " + t.pyName());
        MemorySegment cs = cond.segment(), as = a.segment(), bs = b.segment(), os = out.segment();
        boolean scalar = CpuConfig.scalar();
        int bytes = t.byteSize();
        ElemRows.run(out.shape(), new long[][]{cond.strides(), a.strides(), b.strides(), out.strides()},
                new long[]{cond.offset(), a.offset(), b.offset(), out.offset()}, 1, (o, n, in, s) -> {
                    int done = 0;
                    if (!scalar && in[0] == 1 && in[1] == 1 && in[2] == 1 && in[3] == 1) {
                        if (t == DType.F32 && ElemBinary.BF != null) done = whereF32(cs, o[0], as, o[1], bs, o[2], os, o[3], n);
                        else if (t == DType.F64 && ElemBinary.BD != null) done = whereF64(cs, o[0], as, o[1], bs, o[2], os, o[3], n);
                    }
                    ElemInt.where(cs, o[0] + done * in[0], in[0], as, o[1] + done * in[1], in[1], bs, o[2] + done * in[2], in[2],
                            os, o[3] + done * in[3], in[3], n - done, bytes);
                });
    }

    private static int whereF32(MemorySegment c, long ci, MemorySegment a, long ai, MemorySegment b, long bi,
                                MemorySegment o, long oi, int n) {
        int i = 0, l = ElemVecF32.S.length();
        for (int up = ElemVecF32.S.loopBound(n); i < up; i += l) {
            var m = ByteVector.fromMemorySegment(ElemBinary.BF, c, ci + i, ByteOrder.LITTLE_ENDIAN)
                    .compare(VectorOperators.NE, (byte) 0).cast(ElemVecF32.S);
            FloatVector r = ElemUnary.ldF(b, bi + i).blend(ElemUnary.ldF(a, ai + i), m);
            ElemUnary.stF(r, o, oi + i);
        }
        return i;
    }

    private static int whereF64(MemorySegment c, long ci, MemorySegment a, long ai, MemorySegment b, long bi,
                                MemorySegment o, long oi, int n) {
        int i = 0, l = ElemVecF64.S.length();
        for (int up = ElemVecF64.S.loopBound(n); i < up; i += l) {
            var m = ByteVector.fromMemorySegment(ElemBinary.BD, c, ci + i, ByteOrder.LITTLE_ENDIAN)
                    .compare(VectorOperators.NE, (byte) 0).cast(ElemVecF64.S);
            DoubleVector r = ElemUnary.ldD(b, bi + i).blend(ElemUnary.ldD(a, ai + i), m);
            r.intoMemorySegment(o, (oi + i) * 8, ByteOrder.LITTLE_ENDIAN);
        }
        return i;
    }

    private static void checkShape(String op, Tensor x, Tensor out) {
        if (!Arrays.equals(x.shape(), out.shape()))
            throw new IllegalArgumentException(op + ": operand shape " + Shape.str(x.shape()) + " does not match output shape "
                    + Shape.str(out.shape()));
    }
}
