package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The F64 GEMM micro-kernel (the double twin of {@link GemmF32Kernel}):
 * an outer-product, register-blocked MR x NR tile (MR = 6 rows,
 * NR = 2 vectors of {@link CpuConfig#F64}: 6x16 with 512-bit vectors, 6x8 with 256-bit).
 * Per k it loads two B vectors, broadcasts six A values and issues 12 independent FMAs into 12
 * accumulators that stay in registers for the whole K block; no reduction in the loop.
 *
 * <p>Packed layouts (see {@link GemmF64}): an A panel is MR rows of kc values each
 * ({@code a[ao + r*kc + k]}: six sequential streams, as fast as a k-major panel and packed from a
 * row-major A by plain row copies); a B panel is k-major with NR values per k ({@code b[bo + k*NR + j]}).
 * The kernel writes the finished tile row-major into {@code t[r*NR + j]}; {@link #store} then
 * merges it into C with alpha and beta, so edge tiles and the scalar twin share one store.
 */
final class GemmF64Kernel {
    private GemmF64Kernel() {}

    static final VectorSpecies<Double> S = CpuConfig.F64;
    static final int L = S.length();
    static final int MR = 6;
    static final int NR = 2 * L;

    /** t = A panel (MR x kc) * B panel (kc x NR), vector path. */
    static void kernel(int kc, double[] a, int ao, double[] b, int bo, double[] t) {
        DoubleVector c00 = DoubleVector.zero(S), c01 = DoubleVector.zero(S);
        DoubleVector c10 = DoubleVector.zero(S), c11 = DoubleVector.zero(S);
        DoubleVector c20 = DoubleVector.zero(S), c21 = DoubleVector.zero(S);
        DoubleVector c30 = DoubleVector.zero(S), c31 = DoubleVector.zero(S);
        DoubleVector c40 = DoubleVector.zero(S), c41 = DoubleVector.zero(S);
        DoubleVector c50 = DoubleVector.zero(S), c51 = DoubleVector.zero(S);
        int a0 = ao, a1 = ao + kc, a2 = ao + 2 * kc, a3 = ao + 3 * kc, a4 = ao + 4 * kc, a5 = ao + 5 * kc;
        for (int k = 0; k < kc; k++) {
            int bk = bo + k * NR;
            DoubleVector b0 = DoubleVector.fromArray(S, b, bk);
            DoubleVector b1 = DoubleVector.fromArray(S, b, bk + L);
            DoubleVector av = DoubleVector.broadcast(S, a[a0 + k]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = DoubleVector.broadcast(S, a[a1 + k]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = DoubleVector.broadcast(S, a[a2 + k]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = DoubleVector.broadcast(S, a[a3 + k]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = DoubleVector.broadcast(S, a[a4 + k]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = DoubleVector.broadcast(S, a[a5 + k]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
        }
        c00.intoArray(t, 0);
        c01.intoArray(t, L);
        c10.intoArray(t, NR);
        c11.intoArray(t, NR + L);
        c20.intoArray(t, 2 * NR);
        c21.intoArray(t, 2 * NR + L);
        c30.intoArray(t, 3 * NR);
        c31.intoArray(t, 3 * NR + L);
        c40.intoArray(t, 4 * NR);
        c41.intoArray(t, 4 * NR + L);
        c50.intoArray(t, 5 * NR);
        c51.intoArray(t, 5 * NR + L);
    }

    /** Like {@link #kernel} for an edge panel with at most L valid columns: 6 accumulators, t[r*NR + j] for j < L. */
    static void kernelNarrow(int kc, double[] a, int ao, double[] b, int bo, double[] t) {
        DoubleVector c0 = DoubleVector.zero(S), c1 = DoubleVector.zero(S), c2 = DoubleVector.zero(S);
        DoubleVector c3 = DoubleVector.zero(S), c4 = DoubleVector.zero(S), c5 = DoubleVector.zero(S);
        int a0 = ao, a1 = ao + kc, a2 = ao + 2 * kc, a3 = ao + 3 * kc, a4 = ao + 4 * kc, a5 = ao + 5 * kc;
        for (int k = 0; k < kc; k++) {
            DoubleVector b0 = DoubleVector.fromArray(S, b, bo + k * NR);
            c0 = DoubleVector.broadcast(S, a[a0 + k]).fma(b0, c0);
            c1 = DoubleVector.broadcast(S, a[a1 + k]).fma(b0, c1);
            c2 = DoubleVector.broadcast(S, a[a2 + k]).fma(b0, c2);
            c3 = DoubleVector.broadcast(S, a[a3 + k]).fma(b0, c3);
            c4 = DoubleVector.broadcast(S, a[a4 + k]).fma(b0, c4);
            c5 = DoubleVector.broadcast(S, a[a5 + k]).fma(b0, c5);
        }
        c0.intoArray(t, 0);
        c1.intoArray(t, NR);
        c2.intoArray(t, 2 * NR);
        c3.intoArray(t, 3 * NR);
        c4.intoArray(t, 4 * NR);
        c5.intoArray(t, 5 * NR);
    }

    /** The scalar twin of {@link #kernel}: same packed inputs, same tile out. */
    static void kernelScalar(int kc, double[] a, int ao, double[] b, int bo, double[] t) {
        java.util.Arrays.fill(t, 0, MR * NR, 0.0);
        for (int k = 0; k < kc; k++) {
            int bk = bo + k * NR;
            for (int r = 0; r < MR; r++) {
                double av = a[ao + r * kc + k];
                int tr = r * NR;
                for (int j = 0; j < NR; j++) t[tr + j] = Math.fma(av, b[bk + j], t[tr + j]);
            }
        }
    }

    /**
     * C[0:mr, 0:nr] = alpha * t + beta * C (C read only when beta != 0), where C's row r starts at
     * element cOff + r*ldc of seg. Whole vectors of a row go through the vector path (unless
     * vector is false), the rest of an edge tile element by element, with the same rounding.
     */
    static void store(double[] t, int mr, int nr, MemorySegment c, long cOff, long ldc, double alpha, double beta, boolean vector) {
        if (vector && mr == MR && nr == NR) {
            for (int r = 0; r < MR; r++) {
                long row = (cOff + r * ldc) * Double.BYTES;
                storeVector(t, r * NR, c, row, alpha, beta);
                storeVector(t, r * NR + L, c, row + (long) L * Double.BYTES, alpha, beta);
            }
            return;
        }
        for (int r = 0; r < mr; r++) {
            long row = cOff + r * ldc;
            int j = 0;
            if (vector) {
                for (; j + L <= nr; j += L) storeVector(t, r * NR + j, c, (row + j) * Double.BYTES, alpha, beta);
            }
            for (; j < nr; j++) {
                double v = alpha * t[r * NR + j];
                if (beta != 0) v = Math.fma(beta, c.getAtIndex(Storage.F64, row + j), v);
                c.setAtIndex(Storage.F64, row + j, v);
            }
        }
    }

    private static void storeVector(double[] t, int ti, MemorySegment c, long byteOff, double alpha, double beta) {
        DoubleVector v = DoubleVector.fromArray(S, t, ti).mul(alpha);
        if (beta != 0) v = DoubleVector.fromMemorySegment(S, c, byteOff, ByteOrder.LITTLE_ENDIAN).fma(DoubleVector.broadcast(S, beta), v);
        v.intoMemorySegment(c, byteOff, ByteOrder.LITTLE_ENDIAN);
    }
}
