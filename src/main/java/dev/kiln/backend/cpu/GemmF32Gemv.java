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
 * column stride: vector accumulators over 4L columns, streamed down the rows of B) and
 * {@link #matrixTimesColumn} (N = 1, A with unit column stride: a dot product per row). Both
 * have a scalar twin; the row case accumulates in the same order, so the twins agree bitwise.
 */
final class GemmF32Gemv {
    private GemmF32Gemv() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** c[0, 0:n] = alpha * a[0, 0:k] * b[0:k, 0:n] + beta * c[0, 0:n]; b.cs() == 1. */
    static void rowTimesMatrix(int n, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c, boolean vector) {
        int j = 0;
        if (vector) {
            for (; j + 4 * L <= n; j += 4 * L) columns4(j, k, alpha, a, b, beta, c);
            for (; j + L <= n; j += L) columns1(j, k, alpha, a, b, beta, c);
        }
        MemorySegment as = a.seg(), bs = b.seg();
        for (; j < n; j++) {
            float acc = 0f;
            for (int p = 0; p < k; p++)
                acc = Math.fma(as.getAtIndex(Storage.F32, a.off() + p * a.cs()), bs.getAtIndex(Storage.F32, b.off() + p * b.rs() + j), acc);
            storeScalar(c, c.off() + j, alpha * acc, beta);
        }
    }

    /** Columns [j, j + 4L): four vector accumulators, one FMA each per row of b. */
    private static void columns4(int j, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c) {
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        MemorySegment as = a.seg(), bs = b.seg();
        for (int p = 0; p < k; p++) {
            FloatVector av = FloatVector.broadcast(S, as.getAtIndex(Storage.F32, a.off() + p * a.cs()));
            long off = (b.off() + p * b.rs() + j) * Float.BYTES;
            s0 = av.fma(FloatVector.fromMemorySegment(S, bs, off, LE), s0);
            s1 = av.fma(FloatVector.fromMemorySegment(S, bs, off + L * Float.BYTES, LE), s1);
            s2 = av.fma(FloatVector.fromMemorySegment(S, bs, off + 2L * L * Float.BYTES, LE), s2);
            s3 = av.fma(FloatVector.fromMemorySegment(S, bs, off + 3L * L * Float.BYTES, LE), s3);
        }
        long co = (c.off() + j) * Float.BYTES;
        storeVector(s0, c.seg(), co, alpha, beta);
        storeVector(s1, c.seg(), co + L * Float.BYTES, alpha, beta);
        storeVector(s2, c.seg(), co + 2L * L * Float.BYTES, alpha, beta);
        storeVector(s3, c.seg(), co + 3L * L * Float.BYTES, alpha, beta);
    }

    /** Columns [j, j + L). */
    private static void columns1(int j, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c) {
        FloatVector s0 = FloatVector.zero(S);
        MemorySegment as = a.seg(), bs = b.seg();
        for (int p = 0; p < k; p++) {
            FloatVector av = FloatVector.broadcast(S, as.getAtIndex(Storage.F32, a.off() + p * a.cs()));
            s0 = av.fma(FloatVector.fromMemorySegment(S, bs, (b.off() + p * b.rs() + j) * Float.BYTES, LE), s0);
        }
        storeVector(s0, c.seg(), (c.off() + j) * Float.BYTES, alpha, beta);
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
