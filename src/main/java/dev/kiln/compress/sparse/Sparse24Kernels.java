package dev.kiln.compress.sparse;

import dev.kiln.backend.cpu.CpuConfig;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * 2:4 x dense kernels (Vector API, F32); layout in {@link Sparse24Matrix}.
 * <ul>
 *   <li>batch: per row and batch chunk of 4L (then L), one metadata int decodes 16 values' columns;
 *       each pair of values (one group) is two broadcast-FMAs into 8 accumulators, as in CSR but
 *       without stored column indices.</li>
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
        for (int i = from; i < to; i++) {
            int c = 0;
            for (; c + 4 * L <= ldb; c += 4 * L) row4(w, i, xT, ldb, yT, c);
            for (; c < ldb; c += L) row1(w, i, xT, ldb, yT, c);
        }
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
            y[i] = acc.add(acc2).reduceLanes(VectorOperators.ADD);
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
