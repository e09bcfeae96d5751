package dev.kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;


/**
 * An F32 "A times B-transposed" kernel for the conv2d weight gradient, accumulated over images:
 * <pre>
 * lanes[(r*n + t)*L + l] += sum_{p = l mod L} a[aOff + r*lda + p] * b[bOff + t*ldb + p]   (p < k)
 *   a: gy rows [og, OH*OW] of one image, b: its column rows [kg, OH*OW]; both contiguous along p
 *   gw[r, t] = sum_l lanes[(r*n + t)*L + l], once all images are in ({@link #reduce})
 * </pre>
 * Both operands run along the reduction dim, so nothing is packed (they are heap arrays: C2 hoists
 * their bounds checks, which it does not do for long-indexed segment loads): each 4 x 3 block of dot products
 * keeps 12 vector accumulators (7 loads per 12 FMAs) and adds them to its lane slots at the end,
 * so the cross-lane reduction happens once per call site, not per image. k must be a multiple of
 * the vector length L (callers pad the rows with zeros). The block loop walks B rows outermost so
 * the image's A rows stay in L1. Rows and columns left over from the 4 x 3 grid take a single-dot
 * loop. The scalar twin is {@link ConvBackwardScalar}.
 */
final class ConvBackwardDots {
    private ConvBackwardDots() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    static final int L = S.length();

    /** lanes (m x n slots of L floats, slot row stride ldc slots, from slot at) += a b^T; k % L == 0. */
    static void accumulate(float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                           int m, int n, int k, float[] lanes, int at, int ldc) {
        int m4 = m - m % 4, n3 = n - n % 3;
        for (int t = 0; t < n3; t += 3)
            for (int r = 0; r < m4; r += 4)
                block(a, aOff + r * lda, lda, b, bOff + t * ldb, ldb, k, lanes, (at + r * ldc + t) * L, ldc * L);
        for (int r = 0; r < m; r++)
            for (int t = r < m4 ? n3 : 0; t < n; t++)
                dot(a, aOff + r * lda, b, bOff + t * ldb, k, lanes, (at + r * ldc + t) * L);
    }

    private static FloatVector load(float[] s, int i) {
        return FloatVector.fromArray(S, s, i);
    }

    /** The 4 x 3 block whose first lane slot starts at lanes[o] (slot rows ld floats apart). */
    private static void block(float[] a, int a0, int lda, float[] b, int b0, int ldb, int k, float[] lanes, int o, int ld) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S), c02 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S), c12 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S), c22 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S), c32 = FloatVector.zero(S);
        int a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, b1 = b0 + ldb, b2 = b1 + ldb;
        for (int p = 0; p < k; p += L) {
            FloatVector x0 = load(b, b0 + p), x1 = load(b, b1 + p), x2 = load(b, b2 + p);
            FloatVector y0 = load(a, a0 + p), y1 = load(a, a1 + p), y2 = load(a, a2 + p), y3 = load(a, a3 + p);
            c00 = y0.fma(x0, c00); c01 = y0.fma(x1, c01); c02 = y0.fma(x2, c02);
            c10 = y1.fma(x0, c10); c11 = y1.fma(x1, c11); c12 = y1.fma(x2, c12);
            c20 = y2.fma(x0, c20); c21 = y2.fma(x1, c21); c22 = y2.fma(x2, c22);
            c30 = y3.fma(x0, c30); c31 = y3.fma(x1, c31); c32 = y3.fma(x2, c32);
        }
        // written out here: a helper taking vectors as arguments may not inline and would box them
        FloatVector.fromArray(S, lanes, o).add(c00).intoArray(lanes, o);
        FloatVector.fromArray(S, lanes, o + L).add(c01).intoArray(lanes, o + L);
        FloatVector.fromArray(S, lanes, o + 2 * L).add(c02).intoArray(lanes, o + 2 * L);
        o += ld;
        FloatVector.fromArray(S, lanes, o).add(c10).intoArray(lanes, o);
        FloatVector.fromArray(S, lanes, o + L).add(c11).intoArray(lanes, o + L);
        FloatVector.fromArray(S, lanes, o + 2 * L).add(c12).intoArray(lanes, o + 2 * L);
        o += ld;
        FloatVector.fromArray(S, lanes, o).add(c20).intoArray(lanes, o);
        FloatVector.fromArray(S, lanes, o + L).add(c21).intoArray(lanes, o + L);
        FloatVector.fromArray(S, lanes, o + 2 * L).add(c22).intoArray(lanes, o + 2 * L);
        o += ld;
        FloatVector.fromArray(S, lanes, o).add(c30).intoArray(lanes, o);
        FloatVector.fromArray(S, lanes, o + L).add(c31).intoArray(lanes, o + L);
        FloatVector.fromArray(S, lanes, o + 2 * L).add(c32).intoArray(lanes, o + 2 * L);
    }

    /** One dot product into the lane slot at lanes[o]. */
    private static void dot(float[] a, int a0, float[] b, int b0, int k, float[] lanes, int o) {
        FloatVector s = FloatVector.fromArray(S, lanes, o);
        for (int p = 0; p < k; p += L) s = load(a, a0 + p).fma(load(b, b0 + p), s);
        s.intoArray(lanes, o);
    }

    /** out[i] = the sum of lane slot i, for i < slots. */
    static void reduce(float[] lanes, int slots, float[] out) {
        for (int i = 0; i < slots; i++) out[i] = (float) Lanes.sum(FloatVector.fromArray(S, lanes, i * L));
    }
}
