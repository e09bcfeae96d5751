package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector kernel for 2x2 stride-2 pooling of F32 planes with unit column stride (the CNN case):
 * <pre>
 * out[oh, ow] = max (or mean) of x[2oh, 2ow], x[2oh, 2ow+1], x[2oh+1, 2ow], x[2oh+1, 2ow+1]
 * </pre>
 * For L lanes: two rows combined vertically, then neighbouring lanes combined (slice by one lane),
 * then the even lanes compressed into the first L/2 lanes and stored under a half mask. Covers
 * the block [0, fullH) x [0, fullWv) of outputs; the column tail is left to the scalar loop.
 * MAX is Math.max lane-wise, so a NaN propagates like the scalar path.
 */
final class PoolVector {
    private PoolVector() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final VectorMask<Float> EVEN = evenMask();
    private static final VectorMask<Float> HALF = VectorMask.fromLong(S, (1L << (S.length() / 2)) - 1);

    private static VectorMask<Float> evenMask() {
        boolean[] m = new boolean[S.length()];
        for (int i = 0; i < m.length; i += 2) m[i] = true;
        return VectorMask.fromArray(S, m, 0);
    }

    /** Writes out[oh*ow + j] for oh < fullH, j < fullW (whole windows only); x offsets in elements. */
    static void pool2x2(boolean max, MemorySegment x, long xOff, long sy, MemorySegment out, long oOff, int ow,
                        int fullH, int fullW) {
        int half = S.length() / 2;
        int vecW = (fullW / half) * half;
        for (int oh = 0; oh < fullH; oh++) {
            long r0 = (xOff + 2L * oh * sy) * 4, r1 = r0 + sy * 4;
            long o = (oOff + (long) oh * ow) * 4;
            for (int j = 0; j < vecW; j += half) {
                FloatVector a = FloatVector.fromMemorySegment(S, x, r0 + 8L * j, LE);
                FloatVector b = FloatVector.fromMemorySegment(S, x, r1 + 8L * j, LE);
                FloatVector v = max ? a.max(b) : a.add(b);
                FloatVector pair = max ? v.max(v.slice(1)) : v.add(v.slice(1)).mul(0.25f);
                pair.compress(EVEN).intoMemorySegment(out, o + 4L * j, LE, HALF);
            }
            for (int j = vecW; j < fullW; j++) scalar2x2(max, x, r0, r1, j, out, o);
        }
    }

    private static void scalar2x2(boolean max, MemorySegment x, long r0, long r1, int j, MemorySegment out, long o) {
        float a = x.get(Storage.F32, r0 + 8L * j);
        float b = x.get(Storage.F32, r0 + 8L * j + 4);
        float c = x.get(Storage.F32, r1 + 8L * j);
        float d = x.get(Storage.F32, r1 + 8L * j + 4);
        float r = max ? Math.max(Math.max(a, b), Math.max(c, d)) : ((a + b) + (c + d)) * 0.25f;
        out.set(Storage.F32, o + 4L * j, r);
    }
}
