package dev.kiln.backend.cpu;

import dev.kiln.backend.GemmEpilogue;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * A {@link GemmEpilogue} as the F32 GEMM applies it: the bias copied once per call into a heap
 * array, then {@code c = act(c + bias)} on blocks of rows of c right after the GEMM stored them
 * (still in cache). The bias add and ReLU run in one vector loop; other activations run the
 * elementwise kernel ({@link ElemUnary#rowF32}) in place on each row of the block; a residual is
 * then added row by row. Same roundings as the separate ops: the add rounds once, then the
 * activation, then the residual add.
 */
final class CpuEpilogue {
    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private final float[] bias;      // null: no bias
    private final UnaryOp act;       // null: none
    private final MemorySegment res; // null: no residual; else an F32 [m, n] matrix at element resOff, row stride resLd
    private final long resOff, resLd;

    private CpuEpilogue(float[] bias, UnaryOp act, MemorySegment res, long resOff, long resLd) {
        this.bias = bias;
        this.act = act;
        this.res = res;
        this.resOff = resOff;
        this.resLd = resLd;
    }

    /**
     * The F32 form of e for a c of m rows and n columns (e's bias must have n values; its residual,
     * when given, must be an F32 [m, n] matrix with unit column stride, else null is returned and
     * the caller applies e separately).
     */
    static CpuEpilogue of(GemmEpilogue e, int m, int n) {
        float[] b = null;
        if (e.bias() != null) {
            if (e.bias().size(0) != n)
                throw new IllegalArgumentException("gemm epilogue: bias of " + e.bias().size(0) + " values for " + n + " columns");
            b = (e.bias().dtype() == DType.F32 ? e.bias() : e.bias().to(DType.F32)).toFloatArray();
        }
        Tensor r = e.residual();
        if (r == null) return new CpuEpilogue(b, e.activation(), null, 0, 0);
        if (r.dtype() != DType.F32 || r.dim() != 2 || r.size(0) != m || r.size(1) != n || r.stride(1) != 1 && n > 1) return null;
        return new CpuEpilogue(b, e.activation(), r.segment(), r.offset(), r.stride(0));
    }

    /**
     * Applies the epilogue to rows [0, rows) x columns [0, cols) of the row-major block of seg that
     * starts at element off (row stride ld); row0 and col0 are the block's first row and column in
     * the whole c (its residual and bias indices).
     */
    void rows(MemorySegment seg, long off, long ld, int rows, int row0, int col0, int cols) {
        boolean vector = !CpuConfig.scalar();
        boolean relu = act == UnaryOp.RELU;
        ElemRows.Scratch scratch = act != null && !relu ? ElemRows.Scratch.get() : null;
        for (int r = 0; r < rows; r++) {
            long row = off + r * ld;
            if (bias != null || relu) addBias(seg, row, col0, cols, relu, vector);
            if (scratch != null) ElemUnary.f32(act, seg, row, 1, seg, row, 1, cols, 0, 0, !vector, scratch);
            if (res != null) addResidual(seg, row, resOff + (row0 + r) * resLd + col0, cols, vector);
        }
    }

    /** c[row + j] += res[at + j] for j < cols. */
    private void addResidual(MemorySegment seg, long row, long at, int cols, boolean vector) {
        int j = 0;
        if (vector) {
            for (; j + L <= cols; j += L) {
                long c = (row + j) * Float.BYTES;
                FloatVector.fromMemorySegment(S, seg, c, LE).add(FloatVector.fromMemorySegment(S, res, (at + j) * Float.BYTES, LE))
                        .intoMemorySegment(seg, c, LE);
            }
        }
        for (; j < cols; j++) seg.setAtIndex(Storage.F32, row + j, seg.getAtIndex(Storage.F32, row + j) + res.getAtIndex(Storage.F32, at + j));
    }

    /** c[row + j] = (c[row + j] + bias[col0 + j]), then max(., 0) when relu. */
    private void addBias(MemorySegment seg, long row, int col0, int cols, boolean relu, boolean vector) {
        int j = 0;
        if (vector) {
            FloatVector zero = FloatVector.zero(S);
            for (; j + L <= cols; j += L) {
                long at = (row + j) * Float.BYTES;
                FloatVector v = FloatVector.fromMemorySegment(S, seg, at, LE);
                if (bias != null) v = v.add(FloatVector.fromArray(S, bias, col0 + j));
                if (relu) v = v.max(zero);
                v.intoMemorySegment(seg, at, LE);
            }
        }
        for (; j < cols; j++) {
            float v = seg.getAtIndex(Storage.F32, row + j);
            if (bias != null) v += bias[col0 + j];
            if (relu) v = v > 0 || v != v ? v : 0f;   // as the RELU kernel: NaN stays
            seg.setAtIndex(Storage.F32, row + j, v);
        }
    }
}
