package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static dev.kiln.backend.cpu.GemmF32Kernel.L;
import static dev.kiln.backend.cpu.GemmF32Kernel.S;

/**
 * Matrix-vector shapes of F32 GEMM, which the packed path would waste (M = 1 fills one row of a
 * 6-row tile and packs all of B for a single use): {@link #rowTimesMatrix} (M = 1, B with unit
 * column stride: the rows of B streamed into a heap accumulator row) and
 * {@link #matrixTimesColumn} (N = 1, A with unit column stride: a dot product per row). Both
 * have a scalar twin; the row case accumulates in the same order, so the twins agree bitwise.
 */
final class GemmF32Gemv {
    private GemmF32Gemv() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * c[0, 0:n] = alpha * a[0, 0:k] * b[0:k, 0:n] + beta * c[0, 0:n]; b.cs() == 1. The rows of b are
     * streamed in order (each read once, contiguously) into a heap accumulator row: memory-friendly
     * for a large b, and a plain counted loop over heap arrays that the JIT compiles once and keeps.
     * x (>= k) and acc (>= n) are scratch.
     */
    static void rowTimesMatrix(int n, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c,
                               float[] x, float[] acc, boolean vector) {
        MemorySegment as = a.seg(), bs = b.seg();
        for (int p = 0; p < k; p++) x[p] = as.getAtIndex(Storage.F32, a.off() + p * a.cs());
        java.util.Arrays.fill(acc, 0, n, 0f);
        for (int p = 0; p < k; p++) {
            long row = b.off() + p * b.rs();
            if (vector) accumulateRow(bs, row, x[p], acc, n);
            else for (int j = 0; j < n; j++) acc[j] = Math.fma(x[p], bs.getAtIndex(Storage.F32, row + j), acc[j]);
        }
        for (int j = 0; j < n; j++) storeScalar(c, c.off() + j * c.cs(), alpha * acc[j], beta);
    }

    /** acc[0:n] += xp * seg[row:row+n] (fma per element, as the scalar loop). */
    private static void accumulateRow(MemorySegment seg, long row, float xp, float[] acc, int n) {
        FloatVector xv = FloatVector.broadcast(S, xp);
        long base = row * Float.BYTES;
        int j = 0;
        for (; j + L <= n; j += L)
            xv.fma(FloatVector.fromMemorySegment(S, seg, base + (long) j * Float.BYTES, LE), FloatVector.fromArray(S, acc, j))
                    .intoArray(acc, j);
        for (; j < n; j++) acc[j] = Math.fma(xp, seg.getAtIndex(Storage.F32, row + j), acc[j]);
    }

    /** c[0:m, 0] = alpha * a[0:m, 0:k] * b[0:k, 0] + beta * c[0:m, 0]; a.cs() == 1; rows [i0, i1). */
    static void matrixTimesColumn(int i0, int i1, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c,
                                  float[] x, boolean vector) {
        for (int p = 0; p < k; p++) x[p] = b.seg().getAtIndex(Storage.F32, b.off() + p * b.rs());
        for (int i = i0; i < i1; i++) {
            long row = a.off() + i * a.rs();
            float dot = vector ? dotVector(a.seg(), row, x, k) : dotScalar(a.seg(), row, x, k);
            storeScalar(c, c.off() + i * c.rs(), alpha * dot, beta);
        }
    }

    private static float dotVector(MemorySegment seg, long row, float[] x, int k) {
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S);
        int p = 0;
        for (; p + 2 * L <= k; p += 2 * L) {
            long off = (row + p) * Float.BYTES;
            s0 = FloatVector.fromMemorySegment(S, seg, off, LE).fma(FloatVector.fromArray(S, x, p), s0);
            s1 = FloatVector.fromMemorySegment(S, seg, off + L * Float.BYTES, LE).fma(FloatVector.fromArray(S, x, p + L), s1);
        }
        float dot = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; p < k; p++) dot = Math.fma(seg.getAtIndex(Storage.F32, row + p), x[p], dot);
        return dot;
    }

    private static float dotScalar(MemorySegment seg, long row, float[] x, int k) {
        float dot = 0f;
        for (int p = 0; p < k; p++) dot = Math.fma(seg.getAtIndex(Storage.F32, row + p), x[p], dot);
        return dot;
    }

    private static void storeVector(FloatVector acc, MemorySegment c, long byteOff, float alpha, float beta) {
        FloatVector v = acc.mul(alpha);
        if (beta != 0) v = FloatVector.fromMemorySegment(S, c, byteOff, LE).fma(FloatVector.broadcast(S, beta), v);
        v.intoMemorySegment(c, byteOff, LE);
    }

    private static void storeScalar(GemmMatrix c, long idx, float v, float beta) {
        if (beta != 0) v = Math.fma(beta, c.seg().getAtIndex(Storage.F32, idx), v);
        c.seg().setAtIndex(Storage.F32, idx, v);
    }
}
