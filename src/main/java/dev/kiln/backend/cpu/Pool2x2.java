package dev.kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CNN pooling case: F32, kernel 2, stride 2, no padding, every window inside the input
 * (OH = H/2, OW = W/2), on a dense plane x [H, W] held in a heap array. Per output row, two
 * lane-wise vector passes:
 * <pre>
 * vertical:   v[w] = op(x[2oh, w], x[2oh+1, w])                        (w &lt; W)
 * horizontal: out[oh, j] = op(v[2j], v[2j+1])  computed in every lane k from v[k] and v[k+1]
 *             (a load shifted by one), then the even lanes moved to the front and stored
 * </pre>
 * With indices, op keeps a (value, position) pair: a NaN wins, the later NaN among two; else the
 * greater value, the earlier position (row-major) on a tie. This is associative and equals
 * PyTorch's sequential scan (greater or NaN replaces). Every array has one vector of slack at the
 * end: full vectors run past a row end (into the next row, rewritten later) instead of needing
 * scalar tails. Arrays come from {@link #slack}.
 */
final class Pool2x2 {
    private Pool2x2() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, S.vectorShape());
    private static final VectorSpecies<Long> J = VectorSpecies.of(long.class, S.vectorShape());
    private static final int L = S.length();
    /** Lane permutation putting the even lanes first. */
    private static final int[] EVENS_FIRST = evensFirst();

    private static int[] evensFirst() {
        int[] p = new int[L];
        for (int i = 0; i < L / 2; i++) {
            p[i] = 2 * i;
            p[L / 2 + i] = 2 * i + 1;
        }
        return p;
    }

    /** The shuffle putting the even lanes first. */
    static VectorShuffle<Float> evensFirstShuffle() { return VectorShuffle.fromArray(S, EVENS_FIRST, 0); }

    static boolean applies(PoolKernels.Geometry g) {
        var p = g.p();
        return p.kernelH() == 2 && p.kernelW() == 2 && p.strideH() == 2 && p.strideW() == 2
                && p.padH() == 0 && p.padW() == 0 && g.oh() == g.h() / 2 && g.ow() == g.w() / 2;
    }

    /** Array length with the slack this kernel needs after n elements. */
    static int slack(int n) { return n + L + 1; }

    /**
     * One plane: x [H, W] -> out [OH, OW] and, when idx != null, idx [OH, OW] = h*W + w of the max.
     * v, vp: scratch of length slack(W).
     */
    static void plane(boolean max, float[] x, int w, int oh, int ow, float[] out, long[] idx, float[] v, int[] vp) {
        VectorShuffle<Float> fs = VectorShuffle.fromArray(S, EVENS_FIRST, 0);
        VectorShuffle<Integer> is = VectorShuffle.fromArray(I, EVENS_FIRST, 0);
        for (int r = 0; r < oh; r++) {
            int r0 = 2 * r * w;
            if (idx == null) {
                vertical(max, x, r0, w, v);
                horizontal(max, v, ow, out, r * ow, fs);
            } else {
                verticalArg(x, r0, w, v, vp);
                horizontalArg(v, vp, ow, out, idx, r * ow, fs, is);
            }
        }
    }

    private static void vertical(boolean max, float[] x, int r0, int w, float[] v) {
        for (int j = 0; j < w; j += L) {
            FloatVector a = FloatVector.fromArray(S, x, r0 + j), b = FloatVector.fromArray(S, x, r0 + w + j);
            (max ? a.max(b) : a.add(b)).intoArray(v, j);
        }
    }

    private static void horizontal(boolean max, float[] v, int ow, float[] out, int o, VectorShuffle<Float> fs) {
        for (int j = 0; j < ow; j += L / 2) {
            FloatVector a = FloatVector.fromArray(S, v, 2 * j), b = FloatVector.fromArray(S, v, 2 * j + 1);
            FloatVector r = max ? a.max(b) : a.add(b).mul(0.25f);
            r.rearrange(fs).intoArray(out, o + j);
        }
    }

    /** v[k], vp[k] = the winner of x[r0 + k] (row 2oh) and x[r0 + w + k] (row 2oh+1): bottom if greater or NaN. */
    private static void verticalArg(float[] x, int r0, int w, float[] v, int[] vp) {
        IntVector iota = IntVector.zero(I).addIndex(1);
        for (int j = 0; j < w; j += L) {
            FloatVector a = FloatVector.fromArray(S, x, r0 + j), b = FloatVector.fromArray(S, x, r0 + w + j);
            VectorMask<Float> takeB = b.compare(VectorOperators.GT, a).or(b.test(VectorOperators.IS_NAN));
            a.blend(b, takeB).intoArray(v, j);
            IntVector pos = iota.add(r0 + j);
            pos.blend(pos.add(w), takeB.cast(I)).intoArray(vp, j);
        }
    }

    /** Pairs (v[2j], v[2j+1]) with positions; stores values and I64 positions of OW outputs at o. */
    private static void horizontalArg(float[] v, int[] vp, int ow, float[] out, long[] idx, int o,
                                      VectorShuffle<Float> fs, VectorShuffle<Integer> is) {
        for (int j = 0; j < ow; j += L / 2) {
            FloatVector a = FloatVector.fromArray(S, v, 2 * j), b = FloatVector.fromArray(S, v, 2 * j + 1);
            IntVector pa = IntVector.fromArray(I, vp, 2 * j), pb = IntVector.fromArray(I, vp, 2 * j + 1);
            VectorMask<Float> nanA = a.test(VectorOperators.IS_NAN), nanB = b.test(VectorOperators.IS_NAN);
            VectorMask<Float> later = pb.compare(VectorOperators.GT, pa).cast(S);
            VectorMask<Float> takeB = nanB.and(nanA.not().or(later))
                    .or(b.compare(VectorOperators.GT, a))
                    .or(b.compare(VectorOperators.EQ, a).and(later.not()));
            a.blend(b, takeB).rearrange(fs).intoArray(out, o + j);
            IntVector p = pa.blend(pb, takeB.cast(I)).rearrange(is);
            ((LongVector) p.convertShape(VectorOperators.I2L, J, 0)).intoArray(idx, o + j);
        }
    }
}
