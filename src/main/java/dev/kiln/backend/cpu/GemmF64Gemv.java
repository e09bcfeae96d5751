package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.DoubleVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static dev.kiln.backend.cpu.GemmF64Kernel.L;
import static dev.kiln.backend.cpu.GemmF64Kernel.S;

/**
 * Matrix-vector shapes of F64 GEMM (the double twin of {@link GemmF32Gemv}):
 * which the packed path would waste (M = 1 fills one row of a
 * 6-row tile and packs all of B for a single use): {@link #rowTimesMatrix} (M = 1, B with unit
 * column stride: vector accumulators over 4L columns, streamed down the rows of B) and
 * {@link #matrixTimesColumn} (N = 1, A with unit column stride: a dot product per row). Both
 * have a scalar twin; the row case accumulates in the same order, so the twins agree bitwise.
 */
final class GemmF64Gemv {
    private GemmF64Gemv() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** c[0, 0:n] = alpha * a[0, 0:k] * b[0:k, 0:n] + beta * c[0, 0:n]; b.cs() == 1. */
    static void rowTimesMatrix(int n, int k, double alpha, GemmMatrix a, GemmMatrix b, double beta, GemmMatrix c, boolean vector) {
        int j = 0;
        if (vector) {
            for (; j + 4 * L <= n; j += 4 * L) columns4(j, k, alpha, a, b, beta, c);
            for (; j + L <= n; j += L) columns1(j, k, alpha, a, b, beta, c);
        }
        MemorySegment as = a.seg(), bs = b.seg();
        for (; j < n; j++) {
            double acc = 0.0;
            for (int p = 0; p < k; p++)
                acc = Math.fma(as.getAtIndex(Storage.F64, a.off() + p * a.cs()), bs.getAtIndex(Storage.F64, b.off() + p * b.rs() + j), acc);
            storeScalar(c, c.off() + j, alpha * acc, beta);
        }
    }

    /** Columns [j, j + 4L): four vector accumulators, one FMA each per row of b. */
    private static void columns4(int j, int k, double alpha, GemmMatrix a, GemmMatrix b, double beta, GemmMatrix c) {
        DoubleVector s0 = DoubleVector.zero(S), s1 = DoubleVector.zero(S), s2 = DoubleVector.zero(S), s3 = DoubleVector.zero(S);
        MemorySegment as = a.seg(), bs = b.seg();
        for (int p = 0; p < k; p++) {
            DoubleVector av = DoubleVector.broadcast(S, as.getAtIndex(Storage.F64, a.off() + p * a.cs()));
            long off = (b.off() + p * b.rs() + j) * Double.BYTES;
            s0 = av.fma(DoubleVector.fromMemorySegment(S, bs, off, LE), s0);
            s1 = av.fma(DoubleVector.fromMemorySegment(S, bs, off + L * Double.BYTES, LE), s1);
            s2 = av.fma(DoubleVector.fromMemorySegment(S, bs, off + 2L * L * Double.BYTES, LE), s2);
            s3 = av.fma(DoubleVector.fromMemorySegment(S, bs, off + 3L * L * Double.BYTES, LE), s3);
        }
        long co = (c.off() + j) * Double.BYTES;
        storeVector(s0, c.seg(), co, alpha, beta);
        storeVector(s1, c.seg(), co + L * Double.BYTES, alpha, beta);
        storeVector(s2, c.seg(), co + 2L * L * Double.BYTES, alpha, beta);
        storeVector(s3, c.seg(), co + 3L * L * Double.BYTES, alpha, beta);
    }

    /** Columns [j, j + L). */
    private static void columns1(int j, int k, double alpha, GemmMatrix a, GemmMatrix b, double beta, GemmMatrix c) {
        DoubleVector s0 = DoubleVector.zero(S);
        MemorySegment as = a.seg(), bs = b.seg();
        for (int p = 0; p < k; p++) {
            DoubleVector av = DoubleVector.broadcast(S, as.getAtIndex(Storage.F64, a.off() + p * a.cs()));
            s0 = av.fma(DoubleVector.fromMemorySegment(S, bs, (b.off() + p * b.rs() + j) * Double.BYTES, LE), s0);
        }
        storeVector(s0, c.seg(), (c.off() + j) * Double.BYTES, alpha, beta);
    }

    /** c[0:m, 0] = alpha * a[0:m, 0:k] * b[0:k, 0] + beta * c[0:m, 0]; a.cs() == 1; rows [i0, i1). */
    static void matrixTimesColumn(int i0, int i1, int k, double alpha, GemmMatrix a, GemmMatrix b, double beta, GemmMatrix c,
                                  double[] x, boolean vector) {
        for (int p = 0; p < k; p++) x[p] = b.seg().getAtIndex(Storage.F64, b.off() + p * b.rs());
        for (int i = i0; i < i1; i++) {
            long row = a.off() + i * a.rs();
            double dot = vector ? dotVector(a.seg(), row, x, k) : dotScalar(a.seg(), row, x, k);
            storeScalar(c, c.off() + i * c.rs(), alpha * dot, beta);
        }
    }

    private static double dotVector(MemorySegment seg, long row, double[] x, int k) {
        DoubleVector s0 = DoubleVector.zero(S), s1 = DoubleVector.zero(S);
        int p = 0;
        for (; p + 2 * L <= k; p += 2 * L) {
            long off = (row + p) * Double.BYTES;
            s0 = DoubleVector.fromMemorySegment(S, seg, off, LE).fma(DoubleVector.fromArray(S, x, p), s0);
            s1 = DoubleVector.fromMemorySegment(S, seg, off + L * Double.BYTES, LE).fma(DoubleVector.fromArray(S, x, p + L), s1);
        }
        double dot = Lanes.sum(s0.add(s1));
        for (; p < k; p++) dot = Math.fma(seg.getAtIndex(Storage.F64, row + p), x[p], dot);
        return dot;
    }

    private static double dotScalar(MemorySegment seg, long row, double[] x, int k) {
        double dot = 0.0;
        for (int p = 0; p < k; p++) dot = Math.fma(seg.getAtIndex(Storage.F64, row + p), x[p], dot);
        return dot;
    }

    private static void storeVector(DoubleVector acc, MemorySegment c, long byteOff, double alpha, double beta) {
        DoubleVector v = acc.mul(alpha);
        if (beta != 0) v = DoubleVector.fromMemorySegment(S, c, byteOff, LE).fma(DoubleVector.broadcast(S, beta), v);
        v.intoMemorySegment(c, byteOff, LE);
    }

    private static void storeScalar(GemmMatrix c, long idx, double v, double beta) {
        if (beta != 0) v = Math.fma(beta, c.seg().getAtIndex(Storage.F64, idx), v);
        c.seg().setAtIndex(Storage.F64, idx, v);
    }
}
