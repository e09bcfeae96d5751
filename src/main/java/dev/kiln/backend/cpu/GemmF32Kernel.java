package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The F32 GEMM micro-kernel: an outer-product, register-blocked MR x NR tile (MR = 8 rows, or 6;
 * NR = 2 vectors of {@link CpuConfig#F32}: 8x32 with 512-bit vectors, 8x16 with 256-bit).
 * Per k it loads two B vectors, broadcasts MR A values and issues 2 MR independent FMAs into
 * 2 MR accumulators that stay in registers for the whole K block; no reduction in the loop.
 * Eight rows fill the tile for M = 8, 16, 64, ... (the batch sizes of inference), where six left
 * a third of the last tile empty; with 16 accumulators a CPU with two 512-bit FMA ports (latency
 * 4) has the 8 independent chains it needs twice over.
 *
 * <p>Packed layouts (see {@link GemmF32}): an A panel is MR rows of kc values each
 * ({@code a[ao + r*kc + k]}: six sequential streams, as fast as a k-major panel and packed from a
 * row-major A by plain row copies); a B panel is k-major with NR values per k ({@code b[bo + k*NR + j]}).
 * The kernel writes the finished tile row-major into {@code t[r*NR + j]}; {@link #store} then
 * merges it into C with alpha and beta, so edge tiles and the scalar twin share one store.
 */
final class GemmF32Kernel {
    private GemmF32Kernel() {}

    static final VectorSpecies<Float> S = CpuConfig.F32;
    static final int L = S.length();
    /** The tallest tile (the size of tile buffers). */
    static final int MAX_MR = 8;
    static final int NR = 2 * L;
    /** A forced tile height (-Dkiln.gemm.mr=6|8, see {@link CpuProfile}), or 0: chosen per call by {@link #tileRows}. */
    private static final int FORCED_MR = CpuProfile.get().gemmMr();

    /**
     * Tile height for a GEMM of m rows: up to 64 rows the one that leaves less of its last tile
     * empty (8 for M = 8, 16, 32, 64; 6 for M = 6, 12, 18, ...; ties go to 6), above that 6 for the
     * Vector API kernel and 8 for the native panel step ({@link GemmF32Native}). Measured on Zen 4,
     * one core, Vector API kernel: n = 1024 square 92-106 GFLOP/s with 6 rows against 85-92 with
     * 8; 8 x 768 x 3072 30-40 with 8 rows against 27-32 with 6. Native: 128 x 768 x 3072 (BERT's
     * FFN at 1x128) 108 with 8 rows against 103 with 6, square n = 512..2048 equal within noise.
     */
    static int tileRows(int m) {
        if (FORCED_MR != 0) return FORCED_MR;
        if (m > 64) return GemmF32Native.active() ? 8 : 6;
        int waste6 = (6 - m % 6) % 6, waste8 = (8 - m % 8) % 8;    // padded (empty) rows of the last tile
        return waste8 < waste6 ? 8 : 6;
    }

    /** t = A panel (mr x kc) * B panel (kc x NR), vector path; mr is 6 or 8. */
    static void kernel(int mr, int kc, float[] a, int ao, float[] b, int bo, float[] t) {
        if (mr == 8) kernel8(kc, a, ao, b, bo, t);
        else kernel6(kc, a, ao, b, bo, t);
    }

    /** Like {@link #kernel} for an edge panel with at most L valid columns: t[r*NR + j] for j < L. */
    static void kernelNarrow(int mr, int kc, float[] a, int ao, float[] b, int bo, float[] t) {
        if (mr == 8) narrow8(kc, a, ao, b, bo, t);
        else narrow6(kc, a, ao, b, bo, t);
    }

    /** The 8 x 2L tile: per k two B loads, eight broadcasts, sixteen independent FMAs. */
    private static void kernel8(int kc, float[] a, int ao, float[] b, int bo, float[] t) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        FloatVector c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        int a0 = ao, a1 = ao + kc, a2 = ao + 2 * kc, a3 = ao + 3 * kc, a4 = ao + 4 * kc, a5 = ao + 5 * kc, a6 = ao + 6 * kc, a7 = ao + 7 * kc;
        for (int k = 0; k < kc; k++) {
            int bk = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bk), b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector av = FloatVector.broadcast(S, a[a0 + k]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[a1 + k]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[a2 + k]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[a3 + k]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[a4 + k]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[a5 + k]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, a[a6 + k]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, a[a7 + k]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
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
        c60.intoArray(t, 6 * NR);
        c61.intoArray(t, 6 * NR + L);
        c70.intoArray(t, 7 * NR);
        c71.intoArray(t, 7 * NR + L);
    }

    private static void narrow8(int kc, float[] a, int ao, float[] b, int bo, float[] t) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        int a0 = ao, a1 = ao + kc, a2 = ao + 2 * kc, a3 = ao + 3 * kc, a4 = ao + 4 * kc, a5 = ao + 5 * kc, a6 = ao + 6 * kc, a7 = ao + 7 * kc;
        for (int k = 0; k < kc; k++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bo + k * NR);
            c0 = FloatVector.broadcast(S, a[a0 + k]).fma(b0, c0);
            c1 = FloatVector.broadcast(S, a[a1 + k]).fma(b0, c1);
            c2 = FloatVector.broadcast(S, a[a2 + k]).fma(b0, c2);
            c3 = FloatVector.broadcast(S, a[a3 + k]).fma(b0, c3);
            c4 = FloatVector.broadcast(S, a[a4 + k]).fma(b0, c4);
            c5 = FloatVector.broadcast(S, a[a5 + k]).fma(b0, c5);
            c6 = FloatVector.broadcast(S, a[a6 + k]).fma(b0, c6);
            c7 = FloatVector.broadcast(S, a[a7 + k]).fma(b0, c7);
        }
        c0.intoArray(t, 0);
        c1.intoArray(t, NR);
        c2.intoArray(t, 2 * NR);
        c3.intoArray(t, 3 * NR);
        c4.intoArray(t, 4 * NR);
        c5.intoArray(t, 5 * NR);
        c6.intoArray(t, 6 * NR);
        c7.intoArray(t, 7 * NR);
    }

    /** The 6 x 2L tile (12 accumulators). */
    private static void kernel6(int kc, float[] a, int ao, float[] b, int bo, float[] t) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        int a0 = ao, a1 = ao + kc, a2 = ao + 2 * kc, a3 = ao + 3 * kc, a4 = ao + 4 * kc, a5 = ao + 5 * kc;
        for (int k = 0; k < kc; k++) {
            int bk = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector av = FloatVector.broadcast(S, a[a0 + k]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[a1 + k]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[a2 + k]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[a3 + k]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[a4 + k]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[a5 + k]);
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

    private static void narrow6(int kc, float[] a, int ao, float[] b, int bo, float[] t) {
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S);
        FloatVector c3 = FloatVector.zero(S), c4 = FloatVector.zero(S), c5 = FloatVector.zero(S);
        int a0 = ao, a1 = ao + kc, a2 = ao + 2 * kc, a3 = ao + 3 * kc, a4 = ao + 4 * kc, a5 = ao + 5 * kc;
        for (int k = 0; k < kc; k++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bo + k * NR);
            c0 = FloatVector.broadcast(S, a[a0 + k]).fma(b0, c0);
            c1 = FloatVector.broadcast(S, a[a1 + k]).fma(b0, c1);
            c2 = FloatVector.broadcast(S, a[a2 + k]).fma(b0, c2);
            c3 = FloatVector.broadcast(S, a[a3 + k]).fma(b0, c3);
            c4 = FloatVector.broadcast(S, a[a4 + k]).fma(b0, c4);
            c5 = FloatVector.broadcast(S, a[a5 + k]).fma(b0, c5);
        }
        c0.intoArray(t, 0);
        c1.intoArray(t, NR);
        c2.intoArray(t, 2 * NR);
        c3.intoArray(t, 3 * NR);
        c4.intoArray(t, 4 * NR);
        c5.intoArray(t, 5 * NR);
    }

    /** The scalar twin of {@link #kernel}: same packed inputs, same tile out. */
    static void kernelScalar(int mr, int kc, float[] a, int ao, float[] b, int bo, float[] t) {
        java.util.Arrays.fill(t, 0, mr * NR, 0f);
        for (int k = 0; k < kc; k++) {
            int bk = bo + k * NR;
            for (int r = 0; r < mr; r++) {
                float av = a[ao + r * kc + k];
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
    static void store(float[] t, int mr, int nr, MemorySegment c, long cOff, long ldc, float alpha, float beta, boolean vector) {
        store(t, 0, mr, nr, c, cOff, ldc, alpha, beta, vector);
    }

    /** The same for the tile that starts at t[to]. */
    static void store(float[] t, int to, int mr, int nr, MemorySegment c, long cOff, long ldc, float alpha, float beta, boolean vector) {
        if (vector && nr == NR) {
            for (int r = 0; r < mr; r++) {
                long row = (cOff + r * ldc) * Float.BYTES;
                storeVector(t, to + r * NR, c, row, alpha, beta);
                storeVector(t, to + r * NR + L, c, row + (long) L * Float.BYTES, alpha, beta);
            }
            return;
        }
        for (int r = 0; r < mr; r++) {
            long row = cOff + r * ldc;
            int j = 0;
            if (vector) {
                for (; j + L <= nr; j += L) storeVector(t, to + r * NR + j, c, (row + j) * Float.BYTES, alpha, beta);
            }
            for (; j < nr; j++) {
                float v = alpha * t[to + r * NR + j];
                if (beta != 0) v = Math.fma(beta, c.getAtIndex(Storage.F32, row + j), v);
                c.setAtIndex(Storage.F32, row + j, v);
            }
        }
    }

    private static void storeVector(float[] t, int ti, MemorySegment c, long byteOff, float alpha, float beta) {
        FloatVector v = FloatVector.fromArray(S, t, ti).mul(alpha);
        if (beta != 0) v = FloatVector.fromMemorySegment(S, c, byteOff, ByteOrder.LITTLE_ENDIAN).fma(FloatVector.broadcast(S, beta), v);
        v.intoMemorySegment(c, byteOff, ByteOrder.LITTLE_ENDIAN);
    }
}
