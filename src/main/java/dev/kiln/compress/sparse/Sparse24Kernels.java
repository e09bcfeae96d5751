package dev.kiln.compress.sparse;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.Lanes;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * 2:4 x dense kernels (Vector API, F32); layout in {@link Sparse24Matrix}.
 * <ul>
 *   <li>batch: four rows at a time walk K together over a batch chunk of 4L (then L) columns, 16
 *       accumulators (4 rows x 4 vectors) in registers; per group each row decodes its two 2-bit
 *       positions and does two broadcast-FMAs per vector. X^T [K x 64] is 1 MiB for K = 4096, far
 *       over L1, so a row alone reloads every activation from L2; four rows picking 2 of the same 4
 *       X^T rows share those lines in L1 (about half the L2 reads). Leftover rows run one at a time.
 *       The accumulators must stay in this method (passing them to a helper boxes them in the loop).</li>
 *   <li>vector (needs L = 16, else scalar): per 16 values (8 groups, 32 activations), the lane
 *       indices {@code 4 * (l / 2) + pos_l} are built from the metadata int with one variable shift,
 *       converted to float and used by {@code selectFrom(xLo, xHi)} (a two-vector permute); then one
 *       FMA with the 16 values.</li>
 * </ul>
 */
final class Sparse24Kernels {
    private Sparse24Kernels() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final VectorSpecies<Integer> SI = S.length() == 16 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    private static final int L = S.length();

    static void batch(Sparse24Matrix w, float[] xT, int ldb, float[] yT, int from, int to) {
        if (CpuConfig.scalar()) { batchScalar(w, xT, ldb, yT, from, to); return; }
        int i = from;
        for (; i + 4 <= to; i += 4) {
            int c = 0;
            for (; c + 4 * L <= ldb; c += 4 * L) quad4(w, i, xT, ldb, yT, c);
            for (; c < ldb; c += L) quad1(w, i, xT, ldb, yT, c);
        }
        for (; i < to; i++) {
            int c = 0;
            for (; c + 4 * L <= ldb; c += 4 * L) row4(w, i, xT, ldb, yT, c);
            for (; c < ldb; c += L) row1(w, i, xT, ldb, yT, c);
        }
    }

    /**
     * Rows i .. i+3, batch columns c .. c+4L: 16 accumulators. The four rows walk K together, so
     * the X^T rows of one group (4 rows x 4L floats) that one row pulls into L1 serve the other three
     * rows' picks from the same group.
     */
    private static void quad4(Sparse24Matrix w, int i, float[] xT, int ldb, float[] yT, int c) {
        float[] v = w.values();
        int[] meta = w.meta();
        int vr = Sparse24Matrix.valuesPerRow(w.cols()), words = vr / 16;
        int v0 = i * vr, v1 = v0 + vr, v2 = v1 + vr, v3 = v2 + vr, m0 = i * words, m1 = m0 + words, m2 = m1 + words, m3 = m2 + words;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int q = 0; q < vr; q += 2) {
            int sh = 2 * (q & 15), t = q >>> 4, base = 2 * q * ldb + c, j, k;
            int n0 = meta[m0 + t] >>> sh, n1 = meta[m1 + t] >>> sh, n2 = meta[m2 + t] >>> sh, n3 = meta[m3 + t] >>> sh;
            FloatVector x, y;
            j = base + (n0 & 3) * ldb; k = base + ((n0 >>> 2) & 3) * ldb;
            x = FloatVector.broadcast(S, v[v0 + q]); y = FloatVector.broadcast(S, v[v0 + q + 1]);
            a00 = FloatVector.fromArray(S, xT, k).fma(y, FloatVector.fromArray(S, xT, j).fma(x, a00));
            a01 = FloatVector.fromArray(S, xT, k + L).fma(y, FloatVector.fromArray(S, xT, j + L).fma(x, a01));
            a02 = FloatVector.fromArray(S, xT, k + 2 * L).fma(y, FloatVector.fromArray(S, xT, j + 2 * L).fma(x, a02));
            a03 = FloatVector.fromArray(S, xT, k + 3 * L).fma(y, FloatVector.fromArray(S, xT, j + 3 * L).fma(x, a03));
            j = base + (n1 & 3) * ldb; k = base + ((n1 >>> 2) & 3) * ldb;
            x = FloatVector.broadcast(S, v[v1 + q]); y = FloatVector.broadcast(S, v[v1 + q + 1]);
            a10 = FloatVector.fromArray(S, xT, k).fma(y, FloatVector.fromArray(S, xT, j).fma(x, a10));
            a11 = FloatVector.fromArray(S, xT, k + L).fma(y, FloatVector.fromArray(S, xT, j + L).fma(x, a11));
            a12 = FloatVector.fromArray(S, xT, k + 2 * L).fma(y, FloatVector.fromArray(S, xT, j + 2 * L).fma(x, a12));
            a13 = FloatVector.fromArray(S, xT, k + 3 * L).fma(y, FloatVector.fromArray(S, xT, j + 3 * L).fma(x, a13));
            j = base + (n2 & 3) * ldb; k = base + ((n2 >>> 2) & 3) * ldb;
            x = FloatVector.broadcast(S, v[v2 + q]); y = FloatVector.broadcast(S, v[v2 + q + 1]);
            a20 = FloatVector.fromArray(S, xT, k).fma(y, FloatVector.fromArray(S, xT, j).fma(x, a20));
            a21 = FloatVector.fromArray(S, xT, k + L).fma(y, FloatVector.fromArray(S, xT, j + L).fma(x, a21));
            a22 = FloatVector.fromArray(S, xT, k + 2 * L).fma(y, FloatVector.fromArray(S, xT, j + 2 * L).fma(x, a22));
            a23 = FloatVector.fromArray(S, xT, k + 3 * L).fma(y, FloatVector.fromArray(S, xT, j + 3 * L).fma(x, a23));
            j = base + (n3 & 3) * ldb; k = base + ((n3 >>> 2) & 3) * ldb;
            x = FloatVector.broadcast(S, v[v3 + q]); y = FloatVector.broadcast(S, v[v3 + q + 1]);
            a30 = FloatVector.fromArray(S, xT, k).fma(y, FloatVector.fromArray(S, xT, j).fma(x, a30));
            a31 = FloatVector.fromArray(S, xT, k + L).fma(y, FloatVector.fromArray(S, xT, j + L).fma(x, a31));
            a32 = FloatVector.fromArray(S, xT, k + 2 * L).fma(y, FloatVector.fromArray(S, xT, j + 2 * L).fma(x, a32));
            a33 = FloatVector.fromArray(S, xT, k + 3 * L).fma(y, FloatVector.fromArray(S, xT, j + 3 * L).fma(x, a33));
        }
        int o0 = i * ldb + c;
        a00.intoArray(yT, o0);
        a01.intoArray(yT, o0 + L);
        a02.intoArray(yT, o0 + 2 * L);
        a03.intoArray(yT, o0 + 3 * L);
        int o1 = (i + 1) * ldb + c;
        a10.intoArray(yT, o1);
        a11.intoArray(yT, o1 + L);
        a12.intoArray(yT, o1 + 2 * L);
        a13.intoArray(yT, o1 + 3 * L);
        int o2 = (i + 2) * ldb + c;
        a20.intoArray(yT, o2);
        a21.intoArray(yT, o2 + L);
        a22.intoArray(yT, o2 + 2 * L);
        a23.intoArray(yT, o2 + 3 * L);
        int o3 = (i + 3) * ldb + c;
        a30.intoArray(yT, o3);
        a31.intoArray(yT, o3 + L);
        a32.intoArray(yT, o3 + 2 * L);
        a33.intoArray(yT, o3 + 3 * L);
    }

    /** Rows i .. i+3, batch columns c .. c+L (the tail of a batch that is not a multiple of 4L). */
    private static void quad1(Sparse24Matrix w, int i, float[] xT, int ldb, float[] yT, int c) {
        float[] v = w.values();
        int[] meta = w.meta();
        int vr = Sparse24Matrix.valuesPerRow(w.cols()), words = vr / 16;
        int v0 = i * vr, v1 = v0 + vr, v2 = v1 + vr, v3 = v2 + vr, m0 = i * words, m1 = m0 + words, m2 = m1 + words, m3 = m2 + words;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int q = 0; q < vr; q += 2) {
            int sh = 2 * (q & 15), t = q >>> 4, base = 2 * q * ldb + c;
            int n0 = meta[m0 + t] >>> sh, n1 = meta[m1 + t] >>> sh, n2 = meta[m2 + t] >>> sh, n3 = meta[m3 + t] >>> sh;
            a0 = FloatVector.fromArray(S, xT, base + (n0 & 3) * ldb).fma(FloatVector.broadcast(S, v[v0 + q]), a0);
            b0 = FloatVector.fromArray(S, xT, base + ((n0 >>> 2) & 3) * ldb).fma(FloatVector.broadcast(S, v[v0 + q + 1]), b0);
            a1 = FloatVector.fromArray(S, xT, base + (n1 & 3) * ldb).fma(FloatVector.broadcast(S, v[v1 + q]), a1);
            b1 = FloatVector.fromArray(S, xT, base + ((n1 >>> 2) & 3) * ldb).fma(FloatVector.broadcast(S, v[v1 + q + 1]), b1);
            a2 = FloatVector.fromArray(S, xT, base + (n2 & 3) * ldb).fma(FloatVector.broadcast(S, v[v2 + q]), a2);
            b2 = FloatVector.fromArray(S, xT, base + ((n2 >>> 2) & 3) * ldb).fma(FloatVector.broadcast(S, v[v2 + q + 1]), b2);
            a3 = FloatVector.fromArray(S, xT, base + (n3 & 3) * ldb).fma(FloatVector.broadcast(S, v[v3 + q]), a3);
            b3 = FloatVector.fromArray(S, xT, base + ((n3 >>> 2) & 3) * ldb).fma(FloatVector.broadcast(S, v[v3 + q + 1]), b3);
        }
        a0.add(b0).intoArray(yT, i * ldb + c);
        a1.add(b1).intoArray(yT, (i + 1) * ldb + c);
        a2.add(b2).intoArray(yT, (i + 2) * ldb + c);
        a3.add(b3).intoArray(yT, (i + 3) * ldb + c);
    }

    private static void row4(Sparse24Matrix w, int i, float[] xT, int ldb, float[] yT, int c) {
        float[] v = w.values();
        int[] meta = w.meta();
        int vr = Sparse24Matrix.valuesPerRow(w.cols()), vb = i * vr, mb = i * (vr / 16);
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int q = 0; q < vr; q += 2) {
            int m = meta[mb + (q >>> 4)] >>> (2 * (q & 15));
            int col = 4 * (q >>> 1);
            int j0 = (col + (m & 3)) * ldb + c, j1 = (col + ((m >>> 2) & 3)) * ldb + c;
            FloatVector w0 = FloatVector.broadcast(S, v[vb + q]), w1 = FloatVector.broadcast(S, v[vb + q + 1]);
            a0 = FloatVector.fromArray(S, xT, j0).fma(w0, a0);
            a1 = FloatVector.fromArray(S, xT, j0 + L).fma(w0, a1);
            a2 = FloatVector.fromArray(S, xT, j0 + 2 * L).fma(w0, a2);
            a3 = FloatVector.fromArray(S, xT, j0 + 3 * L).fma(w0, a3);
            b0 = FloatVector.fromArray(S, xT, j1).fma(w1, b0);
            b1 = FloatVector.fromArray(S, xT, j1 + L).fma(w1, b1);
            b2 = FloatVector.fromArray(S, xT, j1 + 2 * L).fma(w1, b2);
            b3 = FloatVector.fromArray(S, xT, j1 + 3 * L).fma(w1, b3);
        }
        int o = i * ldb + c;
        a0.add(b0).intoArray(yT, o);
        a1.add(b1).intoArray(yT, o + L);
        a2.add(b2).intoArray(yT, o + 2 * L);
        a3.add(b3).intoArray(yT, o + 3 * L);
    }

    private static void row1(Sparse24Matrix w, int i, float[] xT, int ldb, float[] yT, int c) {
        float[] v = w.values();
        int[] meta = w.meta();
        int vr = Sparse24Matrix.valuesPerRow(w.cols()), vb = i * vr, mb = i * (vr / 16);
        FloatVector a = FloatVector.zero(S), b = a;
        for (int q = 0; q < vr; q += 2) {
            int m = meta[mb + (q >>> 4)] >>> (2 * (q & 15));
            int col = 4 * (q >>> 1);
            a = FloatVector.fromArray(S, xT, (col + (m & 3)) * ldb + c).fma(FloatVector.broadcast(S, v[vb + q]), a);
            b = FloatVector.fromArray(S, xT, (col + ((m >>> 2) & 3)) * ldb + c).fma(FloatVector.broadcast(S, v[vb + q + 1]), b);
        }
        a.add(b).intoArray(yT, i * ldb + c);
    }

    static void vector(Sparse24Matrix w, float[] x, float[] y, int from, int to) {
        if (CpuConfig.scalar() || L != 16) { vectorScalar(w, x, y, from, to); return; }
        float[] v = w.values();
        int[] meta = w.meta();
        int vr = Sparse24Matrix.valuesPerRow(w.cols()), words = vr / 16;
        IntVector shifts = IntVector.zero(SI).addIndex(2);                           // 2l
        IntVector base = IntVector.zero(SI).addIndex(1).lanewise(VectorOperators.ASHR, 1)
                .lanewise(VectorOperators.LSHL, 2);                                   // 4 * (l / 2)
        for (int i = from; i < to; i++) {
            FloatVector acc = FloatVector.zero(S), acc2 = acc;
            int vb = i * vr, mb = i * words;
            for (int t = 0; t < words; t++) {
                IntVector idx = IntVector.broadcast(SI, meta[mb + t]).lanewise(VectorOperators.LSHR, shifts)
                        .lanewise(VectorOperators.AND, 3).add(base);
                FloatVector sel = ((FloatVector) idx.convert(VectorOperators.I2F, 0))
                        .selectFrom(FloatVector.fromArray(S, x, 32 * t), FloatVector.fromArray(S, x, 32 * t + 16));
                if ((t & 1) == 0) acc = sel.fma(FloatVector.fromArray(S, v, vb + 16 * t), acc);
                else acc2 = sel.fma(FloatVector.fromArray(S, v, vb + 16 * t), acc2);
            }
            y[i] = (float) Lanes.sum(acc.add(acc2));
        }
    }

    private static void vectorScalar(Sparse24Matrix w, float[] x, float[] y, int from, int to) {
        float[] v = w.values();
        int vr = Sparse24Matrix.valuesPerRow(w.cols());
        for (int i = from; i < to; i++) {
            float s = 0;
            for (int q = 0; q < vr; q++) s += v[i * vr + q] * x[w.column(i, q)];
            y[i] = s;
        }
    }

    private static void batchScalar(Sparse24Matrix w, float[] xT, int ldb, float[] yT, int from, int to) {
        float[] v = w.values();
        int vr = Sparse24Matrix.valuesPerRow(w.cols());
        for (int i = from; i < to; i++) {
            java.util.Arrays.fill(yT, i * ldb, (i + 1) * ldb, 0f);
            for (int q = 0; q < vr; q++) {
                float wv = v[i * vr + q];
                int xo = w.column(i, q) * ldb;
                for (int b = 0; b < ldb; b++) yT[i * ldb + b] += wv * xT[xo + b];
            }
        }
    }
}
