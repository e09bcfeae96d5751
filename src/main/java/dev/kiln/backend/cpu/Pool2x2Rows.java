package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The CNN pooling case without indices, streamed: F32 max or average, kernel 2, stride 2, no
 * padding, over a contiguous x [P, H, W] (P = N*C planes) into out [P, OH, OW] with OH = H/2,
 * OW = W/2 (floor: an odd last row or column is dropped). The output rows q = p*OH + oh are
 * consecutive in memory, so the work is one stream of "row pairs", split over threads in blocks:
 * <pre>
 * vertical   (per row pair, read straight from x):  v[q, w] = op(x[p, 2oh, w], x[p, 2oh+1, w])  w &lt; 2*OW
 * horizontal (one flat pass over the block's v):    o[k]    = op(v[2k], v[2k+1])
 * </pre>
 * Because every v row has the even length 2*OW, the horizontal pass needs no per-row handling:
 * pairs never straddle rows. It computes op(v[k], v[k+1]) in every lane (a load shifted by one),
 * moves the even lanes to the front and stores a full vector into a heap block with slack; the
 * block then goes to out in one copy. Per-plane heap copies and short per-row loops (the
 * {@link Pool2x2} route, kept for indices) cost 4x more on 14x14 planes. NaN propagates (vector
 * max returns NaN when either input is), as in the generic loops. The scalar twin is
 * {@link PoolKernels#maxPlane}/{@link PoolKernels#avgPlane}.
 */
final class Pool2x2Rows {
    private Pool2x2Rows() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    /** Floats of v per block: the block stays in L1 between the two passes. */
    private static final int BLOCK_FLOATS = 4096;

    /** Whether the streamed route takes x [.., H, W] with these strides (element units). */
    static boolean applies(PoolKernels.Geometry g, long planeStride, boolean planesDense) {
        return Pool2x2.applies(g) && g.sx() == 1 && g.sy() == g.w() && planesDense && planeStride == (long) g.h() * g.w();
    }

    /** out (element offset oOff) = pool of x (element offset xOff) over planes planes. */
    static void run(boolean max, MemorySegment x, long xOff, MemorySegment out, long oOff, int planes, int h, int w) {
        int oh = h / 2, ow = w / 2, rows = planes * oh;
        int block = Math.max(1, BLOCK_FLOATS / (2 * ow));
        Parallel.forRange(rows, 5L * ow, (s, e) -> {
            float[] v = new float[block * 2 * ow + 2 * L + 2];
            float[] o = new float[block * ow + L];
            VectorShuffle<Float> evens = Pool2x2.evensFirstShuffle();
            for (int q0 = s; q0 < e; q0 += block) {
                int n = Math.min(block, e - q0);
                for (int i = 0; i < n; i++) {
                    int q = q0 + i, p = q / oh, r = q % oh;
                    long src = (xOff + (long) p * h * w + 2L * r * w) * 4;
                    vertical(max, x, src, w, 2 * ow, v, i * 2 * ow);
                }
                horizontal(max, v, n * ow, o, evens);
                MemorySegment.copy(o, 0, out, Storage.F32, (oOff + (long) q0 * ow) * 4, n * ow);
            }
        });
    }

    /** v[at + c] = op(row at byte src, row at src + w floats), c &lt; cols; may write up to L-1 lanes past cols. */
    private static void vertical(boolean max, MemorySegment x, long src, int w, int cols, float[] v, int at) {
        long below = (long) w * 4;
        int j = 0;
        for (; j + L <= cols; j += L) {
            FloatVector a = FloatVector.fromMemorySegment(S, x, src + j * 4L, NATIVE);
            FloatVector b = FloatVector.fromMemorySegment(S, x, src + below + j * 4L, NATIVE);
            (max ? a.max(b) : a.add(b)).intoArray(v, at + j);
        }
        if (j < cols) {
            VectorMask<Float> m = S.indexInRange(j, cols);
            FloatVector a = FloatVector.fromMemorySegment(S, x, src + j * 4L, NATIVE, m);
            FloatVector b = FloatVector.fromMemorySegment(S, x, src + below + j * 4L, NATIVE, m);
            (max ? a.max(b) : a.add(b)).intoArray(v, at + j);
        }
    }

    /** o[k] = op(v[2k], v[2k+1]) for k &lt; n (average: the 2x2 sum times 1/4); o gets up to L/2 lanes of slack written. */
    private static void horizontal(boolean max, float[] v, int n, float[] o, VectorShuffle<Float> evens) {
        for (int k = 0; k < n; k += L / 2) {
            FloatVector a = FloatVector.fromArray(S, v, 2 * k), b = FloatVector.fromArray(S, v, 2 * k + 1);
            FloatVector r = max ? a.max(b) : a.add(b).mul(0.25f);
            r.rearrange(evens).intoArray(o, k);
        }
    }
}
