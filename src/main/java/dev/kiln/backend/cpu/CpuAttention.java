package dev.kiln.backend.cpu;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Scaled dot-product attention on the CPU, one (batch, head) at a time over the threads:
 * <pre>
 * q [..., T, D], kt [..., D, S] (K transposed: any strides, e.g. a permuted view), v [..., S, Dv],
 * mask broadcastable to [..., T, S] or null, out [..., T, Dv] with a unit last stride (e.g. the
 * [batch, heads, T, Dv] view of a [batch, T, heads, Dv] buffer); per leading index:
 *   s = q kt                  (T x S scores in a per-thread buffer that stays in L2)
 *   s = s / div * mul + mask  (div, mul: 1 when absent; one pass over the rows, in that order)
 *   p = softmax(s) per row    (in place)
 *   out = p v
 * </pre>
 * The scores never leave the cache, and the four ops that the unfused graph runs as separate
 * passes over a [.., T, S] tensor (plus their forks) become one task per head. Each step is the
 * engine's own kernel (the blocked GEMM, the softmax row kernel) on the same values in the same
 * order, so the result equals the unfused ops' bit for bit. Leading dims of q, kt, v and mask
 * broadcast against out's (stride 0).
 */
public final class CpuAttention {
    private CpuAttention() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private static final class Scratch {
        MemorySegment seg = MemorySegment.NULL;

        MemorySegment get(long floats) {
            if (seg.byteSize() < floats * 4) seg = Arena.ofAuto().allocate(floats * 4, 64);
            return seg;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** out = softmax(q kt / div * mul + mask) v (see the class comment); div, mul are 1 when unused. */
    public static void attention(Tensor q, Tensor kt, Tensor v, float div, float mul, Tensor mask, Tensor out) {
        attention(q, kt, v, div, mul, mask, null, 0f, out);
    }

    /**
     * The same, then where(keep, s, fill) on the scores before the softmax (keep: a bool tensor
     * broadcastable to [..., T, S], or null): GPT-2's causal mask, which sets masked scores to a
     * constant instead of adding to them.
     */
    public static void attention(Tensor q, Tensor kt, Tensor v, float div, float mul, Tensor mask, Tensor keep, float fill, Tensor out) {
        int r = out.dim();
        if (keep != null && (keep.dtype() != DType.BOOL || keep.dim() > r))
            throw new IllegalArgumentException("attention: the keep mask must be bool of rank <= " + r + ", got " + keep.dtype().pyName()
                    + " " + Shape.str(keep.shape()));
        if (r < 2 || q.dim() != r || kt.dim() != r || v.dim() != r || (mask != null && mask.dim() > r))
            throw new IllegalArgumentException("attention: q, kt, v and out must have the same rank >= 2, got q " + Shape.str(q.shape())
                    + ", kt " + Shape.str(kt.shape()) + ", v " + Shape.str(v.shape()) + ", out " + Shape.str(out.shape()));
        int t = q.size(-2), d = q.size(-1), s = kt.size(-1), dv = v.size(-1);
        if (kt.size(-2) != d || v.size(-2) != s || out.size(-2) != t || out.size(-1) != dv)
            throw new IllegalArgumentException("attention: shapes do not match: q " + Shape.str(q.shape()) + ", kt " + Shape.str(kt.shape())
                    + ", v " + Shape.str(v.shape()) + ", out " + Shape.str(out.shape()));
        for (Tensor x : new Tensor[]{q, kt, v, out, mask})
            if (x != null && x.dtype() != DType.F32) throw new IllegalArgumentException("attention: float32 only, got " + x.dtype().pyName());
        if (out.size(r - 1) > 1 && out.stride(r - 1) != 1) throw new IllegalArgumentException("attention: out's last dim must have unit stride");
        int[] lead = java.util.Arrays.copyOf(out.shape(), r - 2);
        int heads = (int) Shape.numel(lead);
        Tensor m = mask == null ? null : mask.expand(withTail(lead, t, s));
        Tensor k = keep == null ? null : keep.expand(withTail(lead, t, s));
        boolean scalar = CpuConfig.scalar();
        Parallel.forRange(heads, 4L * t * s * Math.max(d, dv), (h0, h1) -> {
            MemorySegment sc = SCRATCH.get().get((long) t * s);
            GemmMatrix sm = new GemmMatrix(sc, 0, s, 1);
            Storage scores = scalar ? Storage.wrap(Backends.cpu(), sc) : null;   // for the scalar twin's row kernel
            for (int h = h0; h < h1; h++) {
                GemmMatrix qm = matrix(q, lead, h), km = matrix(kt, lead, h), vm = matrix(v, lead, h), om = matrix(out, lead, h);
                GemmF32.gemm(t, s, d, 1f, qm, km, 0f, sm, 1);
                if (div != 1f || mul != 1f || m != null) scaleMask(sc, t, s, div, mul, m, lead, h);
                if (k != null) keepOrFill(sc, t, s, k, fill, lead, h);
                for (int i = 0; i < t; i++) {
                    if (scalar) ReduceNorm.softmaxScalar(DType.F32, scores, (long) i * s, scores, (long) i * s, s, false);
                    else ReduceNorm.softmaxF32(sc, (long) i * s, sc, (long) i * s, s, false);
                }
                GemmF32.gemm(t, dv, s, 1f, sm, vm, 0f, om, 1);
            }
        });
        if (m != null && m != mask) m.close();
        if (k != null && k != keep) k.close();
    }

    /** s = keep[h] ? s : fill over the T x S scores (the unfused Where). */
    private static void keepOrFill(MemorySegment sc, int t, int s, Tensor k, float fill, int[] lead, int h) {
        GemmMatrix km = matrix(k, lead, h);
        MemorySegment kb = km.seg();
        for (int i = 0; i < t; i++) {
            long row = (long) i * s, krow = km.off() + i * km.rs();
            for (int j = 0; j < s; j++)
                if (kb.get(java.lang.foreign.ValueLayout.JAVA_BYTE, krow + j * km.cs()) == 0) sc.setAtIndex(Storage.F32, row + j, fill);
        }
    }

    private static int[] withTail(int[] lead, int a, int b) {
        int[] s = java.util.Arrays.copyOf(lead, lead.length + 2);
        s[lead.length] = a;
        s[lead.length + 1] = b;
        return s;
    }

    /** Head h (a flat index over the leading dims) of x as a matrix over its last two dims. */
    private static GemmMatrix matrix(Tensor x, int[] lead, int h) {
        long off = x.offset();
        int xr = x.dim(), pad = lead.length - (xr - 2);
        for (int i = lead.length - 1, rem = h; i >= 0; i--) {
            int idx = rem % lead[i];
            rem /= lead[i];
            int xi = i - pad;
            if (xi >= 0 && x.size(xi) != 1) off += idx * x.stride(xi);
        }
        return new GemmMatrix(x.segment(), off, x.stride(xr - 2), x.stride(xr - 1));
    }

    /** s = s / div * mul + mask[h] over the T x S scores (element order as the unfused Div, Mul, Add). */
    private static void scaleMask(MemorySegment sc, int t, int s, float div, float mul, Tensor m, int[] lead, int h) {
        GemmMatrix mm = m == null ? null : matrix(m, lead, h);
        FloatVector dv = FloatVector.broadcast(S, div), mv = FloatVector.broadcast(S, mul);
        int l = S.length();
        for (int i = 0; i < t; i++) {
            long row = (long) i * s;
            int j = 0;
            if (!CpuConfig.scalar() && (mm == null || mm.cs() == 1)) {
                for (; j + l <= s; j += l) {
                    FloatVector x = FloatVector.fromMemorySegment(S, sc, (row + j) * 4, LE);
                    if (div != 1f) x = x.div(dv);
                    if (mul != 1f) x = x.mul(mv);
                    if (mm != null) x = x.add(FloatVector.fromMemorySegment(S, mm.seg(), (mm.off() + i * mm.rs() + j) * 4, LE));
                    x.intoMemorySegment(sc, (row + j) * 4, LE);
                }
            }
            for (; j < s; j++) {
                float x = sc.getAtIndex(Storage.F32, row + j);
                if (div != 1f) x = x / div;
                if (mul != 1f) x = x * mul;
                if (mm != null) x = x + mm.seg().getAtIndex(Storage.F32, mm.off() + i * mm.rs() + j * mm.cs());
                sc.setAtIndex(Storage.F32, row + j, x);
            }
        }
    }
}
