package dev.kiln.backend.cpu;

import dev.kiln.backend.GemmEpilogue;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * A {@link GemmEpilogue} as the F32 GEMM applies it: the bias copied once per call into a heap
 * array, then {@code c = act(c + bias)} on blocks of rows of c right after the GEMM stored them
 * (still in cache). The bias add and ReLU run in one vector loop; other activations run the
 * elementwise kernel ({@link ElemUnary#rowF32}) in place on each row of the block. Same roundings
 * as the separate ops: the add rounds once, then the activation.
 */
final class CpuEpilogue {
    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private final float[] bias;      // null: no bias
    private final UnaryOp act;       // null: none

    private CpuEpilogue(float[] bias, UnaryOp act) {
        this.bias = bias;
        this.act = act;
    }

    /** The F32 form of e for a c with n columns (e's bias must have n values). */
    static CpuEpilogue of(GemmEpilogue e, int n) {
        float[] b = null;
        if (e.bias() != null) {
            if (e.bias().size(0) != n)
                throw new IllegalArgumentException("gemm epilogue: bias of " + e.bias().size(0) + " values for " + n + " columns");
            b = (e.bias().dtype() == DType.F32 ? e.bias() : e.bias().to(DType.F32)).toFloatArray();
        }
        return new CpuEpilogue(b, e.activation());
    }

    /**
     * Applies the epilogue to rows [0, rows) x columns [0, cols) of the row-major block of seg that
     * starts at element off (row stride ld); col0 is the block's first column in the whole c (its
     * bias index).
     */
    void rows(MemorySegment seg, long off, long ld, int rows, int col0, int cols) {
        boolean vector = !CpuConfig.scalar();
        boolean relu = act == UnaryOp.RELU;
        ElemRows.Scratch scratch = act != null && !relu ? ElemRows.Scratch.get() : null;
        for (int r = 0; r < rows; r++) {
            long row = off + r * ld;
            if (bias != null || relu) addBias(seg, row, col0, cols, relu, vector);
            if (scratch != null) ElemUnary.f32(act, seg, row, 1, seg, row, 1, cols, 0, 0, !vector, scratch);
        }
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
