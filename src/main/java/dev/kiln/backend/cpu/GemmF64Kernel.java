package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The F64 GEMM micro-kernel: an outer-product, register-blocked MR x NR tile (MR = 6 rows,
 * NR = 2 vectors of {@link CpuConfig#F64}: 6x16 with 512-bit vectors, 6x8 with 256-bit).
 * Per k it loads two B vectors, broadcasts six A values and issues 12 independent FMAs into 12
 * accumulators that stay in registers for the whole K block; no reduction in the loop.
 *
 * <p>Packed layouts (see {@link GemmF64}): an A panel is k-major with MR values per k
 * ({@code a[ao + k*MR + r]}); a B panel is k-major with NR values per k ({@code b[bo + k*NR + j]}).
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
        for (int k = 0; k < kc; k++) {
            int bk = bo + k * NR, ak = ao + k * MR;
            DoubleVector b0 = DoubleVector.fromArray(S, b, bk);
            DoubleVector b1 = DoubleVector.fromArray(S, b, bk + L);
            DoubleVector av = DoubleVector.broadcast(S, a[ak]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = DoubleVector.broadcast(S, a[ak + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = DoubleVector.broadcast(S, a[ak + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = DoubleVector.broadcast(S, a[ak + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = DoubleVector.broadcast(S, a[ak + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = DoubleVector.broadcast(S, a[ak + 5]);
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

    /** The scalar twin of {@link #kernel}: same packed inputs, same tile out. */
    static void kernelScalar(int kc, double[] a, int ao, double[] b, int bo, double[] t) {
        java.util.Arrays.fill(t, 0, MR * NR, 0.0);
        for (int k = 0; k < kc; k++) {
            int bk = bo + k * NR, ak = ao + k * MR;
            for (int r = 0; r < MR; r++) {
                double av = a[ak + r];
                int tr = r * NR;
                for (int j = 0; j < NR; j++) t[tr + j] = Math.fma(av, b[bk + j], t[tr + j]);
            }
        }
    }

    /**
     * C[0:mr, 0:nr] = alpha * t + beta * C (C read only when beta != 0), where C's row r starts at
     * element cOff + r*ldc of seg. Full tiles take the vector path unless vector is false.
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
            for (int j = 0; j < nr; j++) {
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
