package dev.kiln.compress.sparse;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.Lanes;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * CSR x dense kernels (Vector API, F32).
 * <ul>
 *   <li>batch: {@code yT[i, :] = sum_p values[p] * xT[colIdx[p], :]} over the row's nonzeros. The
 *       batch (ldb, a multiple of the vector length L) is walked in chunks of 4L (64 floats with
 *       AVX-512), then L; each chunk keeps 8 accumulators (two nonzeros in flight x 4 vectors) so
 *       the FMA latency is hidden, then one store per vector.</li>
 *   <li>vector: {@code y[i] = sum_p values[p] * x[colIdx[p]]}: gathers of L activations by the
 *       row's column indices, FMA with L contiguous values, one lane reduction per row; the tail
 *       (nnz mod L) is scalar.</li>
 * </ul>
 * {@code kiln.cpu.scalar=true} forces the scalar twins.
 */
final class CsrKernels {
    private CsrKernels() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final int L = S.length();

    static void batch(CsrMatrix w, float[] xT, int ldb, float[] yT, int from, int to) {
        if (CpuConfig.scalar()) { batchScalar(w, xT, ldb, yT, from, to); return; }
        for (int i = from; i < to; i++) {
            int c = 0;
            for (; c + 4 * L <= ldb; c += 4 * L) row4(w, i, xT, ldb, yT, c);
            for (; c < ldb; c += L) row1(w, i, xT, ldb, yT, c);
        }
    }

    /** yT[i, c .. c+4L) for one row, two nonzeros per step (8 independent accumulators). */
    private static void row4(CsrMatrix w, int i, float[] xT, int ldb, float[] yT, int c) {
        float[] v = w.values();
        int[] col = w.colIdx();
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int p = w.rowPtr()[i], e = w.rowPtr()[i + 1];
        for (; p + 1 < e; p += 2) {
            int j0 = col[p] * ldb + c, j1 = col[p + 1] * ldb + c;
            FloatVector w0 = FloatVector.broadcast(S, v[p]), w1 = FloatVector.broadcast(S, v[p + 1]);
            a0 = FloatVector.fromArray(S, xT, j0).fma(w0, a0);
            a1 = FloatVector.fromArray(S, xT, j0 + L).fma(w0, a1);
            a2 = FloatVector.fromArray(S, xT, j0 + 2 * L).fma(w0, a2);
            a3 = FloatVector.fromArray(S, xT, j0 + 3 * L).fma(w0, a3);
            b0 = FloatVector.fromArray(S, xT, j1).fma(w1, b0);
            b1 = FloatVector.fromArray(S, xT, j1 + L).fma(w1, b1);
            b2 = FloatVector.fromArray(S, xT, j1 + 2 * L).fma(w1, b2);
            b3 = FloatVector.fromArray(S, xT, j1 + 3 * L).fma(w1, b3);
        }
        if (p < e) {
            int j0 = col[p] * ldb + c;
            FloatVector w0 = FloatVector.broadcast(S, v[p]);
            a0 = FloatVector.fromArray(S, xT, j0).fma(w0, a0);
            a1 = FloatVector.fromArray(S, xT, j0 + L).fma(w0, a1);
            a2 = FloatVector.fromArray(S, xT, j0 + 2 * L).fma(w0, a2);
            a3 = FloatVector.fromArray(S, xT, j0 + 3 * L).fma(w0, a3);
        }
        int o = i * ldb + c;
        a0.add(b0).intoArray(yT, o);
        a1.add(b1).intoArray(yT, o + L);
        a2.add(b2).intoArray(yT, o + 2 * L);
        a3.add(b3).intoArray(yT, o + 3 * L);
    }

    /** yT[i, c .. c+L) for one row. */
    private static void row1(CsrMatrix w, int i, float[] xT, int ldb, float[] yT, int c) {
        float[] v = w.values();
        int[] col = w.colIdx();
        FloatVector a = FloatVector.zero(S), b = a;
        int p = w.rowPtr()[i], e = w.rowPtr()[i + 1];
        for (; p + 1 < e; p += 2) {
            a = FloatVector.fromArray(S, xT, col[p] * ldb + c).fma(FloatVector.broadcast(S, v[p]), a);
            b = FloatVector.fromArray(S, xT, col[p + 1] * ldb + c).fma(FloatVector.broadcast(S, v[p + 1]), b);
        }
        if (p < e) a = FloatVector.fromArray(S, xT, col[p] * ldb + c).fma(FloatVector.broadcast(S, v[p]), a);
        a.add(b).intoArray(yT, i * ldb + c);
    }

    static void vector(CsrMatrix w, float[] x, float[] y, int from, int to) {
        float[] v = w.values();
        int[] col = w.colIdx(), ptr = w.rowPtr();
        boolean scalar = CpuConfig.scalar();
        for (int i = from; i < to; i++) {
            int p = ptr[i], e = ptr[i + 1];
            float sum = 0;
            if (!scalar && e - p >= L) {
                FloatVector acc = FloatVector.zero(S);
                for (; p + L <= e; p += L)
                    acc = FloatVector.fromArray(S, x, 0, col, p).fma(FloatVector.fromArray(S, v, p), acc);
                sum = (float) Lanes.sum(acc);
            }
            for (; p < e; p++) sum += v[p] * x[col[p]];
            y[i] = sum;
        }
    }

    private static void batchScalar(CsrMatrix w, float[] xT, int ldb, float[] yT, int from, int to) {
        float[] v = w.values();
        int[] col = w.colIdx(), ptr = w.rowPtr();
        for (int i = from; i < to; i++) {
            int o = i * ldb;
            java.util.Arrays.fill(yT, o, o + ldb, 0f);
            for (int p = ptr[i]; p < ptr[i + 1]; p++) {
                int j = col[p] * ldb;
                float wv = v[p];
                for (int b = 0; b < ldb; b++) yT[o + b] += wv * xT[j + b];
            }
        }
    }
}
