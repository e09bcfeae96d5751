package dev.kiln.compress.sparse;

import dev.kiln.backend.cpu.CpuConfig;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * 4x4 BSR x dense kernels (Vector API, F32).
 * <ul>
 *   <li>batch: per block row, the batch in chunks of 2L (then L): for each stored block and each of
 *       its 4 columns q, two X^T vectors are loaded and FMA'd into the 4 rows' accumulators with the
 *       broadcast weights (8 independent accumulators, 8 FMAs per 2 loads).</li>
 *   <li>vector (needs L = 16, else scalar): acc += block values (one vector) * expanded x (one
 *       vector), then y[4br + r] = sum of lanes 4r .. 4r+3.</li>
 * </ul>
 */
final class BsrKernels {
    private BsrKernels() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final int L = S.length();

    static void batch(BsrMatrix w, float[] xT, int ldb, float[] yT, int from, int to) {
        if (CpuConfig.scalar()) { batchScalar(w, xT, ldb, yT, from, to); return; }
        for (int br = from; br < to; br++) {
            int c = 0;
            for (; c + 2 * L <= ldb; c += 2 * L) blockRow2(w, br, xT, ldb, yT, c);
            for (; c < ldb; c += L) blockRow1(w, br, xT, ldb, yT, c);
        }
    }

    private static void blockRow2(BsrMatrix w, int br, float[] xT, int ldb, float[] yT, int c) {
        float[] v = w.values();
        int[] bcol = w.blockCol();
        FloatVector r0a = FloatVector.zero(S), r0b = r0a, r1a = r0a, r1b = r0a, r2a = r0a, r2b = r0a, r3a = r0a, r3b = r0a;
        for (int p = w.blockRowPtr()[br], e = w.blockRowPtr()[br + 1]; p < e; p++) {
            int vb = p * 16, xb = bcol[p] * 4 * ldb + c;
            for (int q = 0; q < 4; q++) {
                int xo = xb + q * ldb;
                FloatVector xa = FloatVector.fromArray(S, xT, xo), xc = FloatVector.fromArray(S, xT, xo + L);
                FloatVector w0 = FloatVector.broadcast(S, v[vb + q]), w1 = FloatVector.broadcast(S, v[vb + 4 + q]);
                FloatVector w2 = FloatVector.broadcast(S, v[vb + 8 + q]), w3 = FloatVector.broadcast(S, v[vb + 12 + q]);
                r0a = xa.fma(w0, r0a); r0b = xc.fma(w0, r0b);
                r1a = xa.fma(w1, r1a); r1b = xc.fma(w1, r1b);
                r2a = xa.fma(w2, r2a); r2b = xc.fma(w2, r2b);
                r3a = xa.fma(w3, r3a); r3b = xc.fma(w3, r3b);
            }
        }
        int o = br * 4 * ldb + c;
        r0a.intoArray(yT, o); r0b.intoArray(yT, o + L);
        r1a.intoArray(yT, o + ldb); r1b.intoArray(yT, o + ldb + L);
        r2a.intoArray(yT, o + 2 * ldb); r2b.intoArray(yT, o + 2 * ldb + L);
        r3a.intoArray(yT, o + 3 * ldb); r3b.intoArray(yT, o + 3 * ldb + L);
    }

    private static void blockRow1(BsrMatrix w, int br, float[] xT, int ldb, float[] yT, int c) {
        float[] v = w.values();
        int[] bcol = w.blockCol();
        FloatVector r0 = FloatVector.zero(S), r1 = r0, r2 = r0, r3 = r0;
        for (int p = w.blockRowPtr()[br], e = w.blockRowPtr()[br + 1]; p < e; p++) {
            int vb = p * 16, xb = bcol[p] * 4 * ldb + c;
            for (int q = 0; q < 4; q++) {
                FloatVector xa = FloatVector.fromArray(S, xT, xb + q * ldb);
                r0 = xa.fma(FloatVector.broadcast(S, v[vb + q]), r0);
                r1 = xa.fma(FloatVector.broadcast(S, v[vb + 4 + q]), r1);
                r2 = xa.fma(FloatVector.broadcast(S, v[vb + 8 + q]), r2);
                r3 = xa.fma(FloatVector.broadcast(S, v[vb + 12 + q]), r3);
            }
        }
        int o = br * 4 * ldb + c;
        r0.intoArray(yT, o); r1.intoArray(yT, o + ldb); r2.intoArray(yT, o + 2 * ldb); r3.intoArray(yT, o + 3 * ldb);
    }

    static void vector(BsrMatrix w, float[] xe, float[] y, int from, int to) {
        if (CpuConfig.scalar() || L != 16) { vectorScalar(w, xe, y, from, to); return; }
        int[] bcol = w.blockCol(), ptr = w.blockRowPtr();
        float[] v = w.values();
        float[] lanes = new float[16];
        for (int br = from; br < to; br++) {
            FloatVector acc = FloatVector.zero(S), acc2 = acc;
            int p = ptr[br], e = ptr[br + 1];
            for (; p + 1 < e; p += 2) {
                acc = FloatVector.fromArray(S, v, p * 16).fma(FloatVector.fromArray(S, xe, bcol[p] * 16), acc);
                acc2 = FloatVector.fromArray(S, v, p * 16 + 16).fma(FloatVector.fromArray(S, xe, bcol[p + 1] * 16), acc2);
            }
            if (p < e) acc = FloatVector.fromArray(S, v, p * 16).fma(FloatVector.fromArray(S, xe, bcol[p] * 16), acc);
            acc.add(acc2).intoArray(lanes, 0);
            for (int r = 0; r < 4; r++)
                y[br * 4 + r] = (lanes[4 * r] + lanes[4 * r + 1]) + (lanes[4 * r + 2] + lanes[4 * r + 3]);
        }
    }

    private static void vectorScalar(BsrMatrix w, float[] xe, float[] y, int from, int to) {
        int[] bcol = w.blockCol(), ptr = w.blockRowPtr();
        float[] v = w.values();
        for (int br = from; br < to; br++)
            for (int r = 0; r < 4; r++) {
                float s = 0;
                for (int p = ptr[br]; p < ptr[br + 1]; p++)
                    for (int c = 0; c < 4; c++) s += v[p * 16 + r * 4 + c] * xe[bcol[p] * 16 + r * 4 + c];
                y[br * 4 + r] = s;
            }
    }

    private static void batchScalar(BsrMatrix w, float[] xT, int ldb, float[] yT, int from, int to) {
        int[] bcol = w.blockCol(), ptr = w.blockRowPtr();
        float[] v = w.values();
        for (int br = from; br < to; br++) {
            java.util.Arrays.fill(yT, br * 4 * ldb, (br + 1) * 4 * ldb, 0f);
            for (int p = ptr[br]; p < ptr[br + 1]; p++)
                for (int r = 0; r < 4; r++)
                    for (int c = 0; c < 4; c++) {
                        float wv = v[p * 16 + r * 4 + c];
                        int yo = (br * 4 + r) * ldb, xo = (bcol[p] * 4 + c) * ldb;
                        for (int b = 0; b < ldb; b++) yT[yo + b] += wv * xT[xo + b];
                    }
        }
    }
}
