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
                softmaxInPlace(sc, t, s, scores);
                GemmF32.gemm(t, dv, s, 1f, sm, vm, 0f, om, 1);
            }
        });
        if (m != null && m != mask) m.close();
        if (k != null && k != keep) k.close();
    }

    /**
     * {@link dev.kiln.backend.AttentionSpec}'s forward on qkv [B, T, 3E] into out [B, T, E] (both
     * contiguous F32): per (batch, head) task, S = scale Q K^T in a per-thread T x T buffer, + mask,
     * softmax per row, dropout, then P V straight into out's columns of that head. False for other
     * dtypes or layouts.
     */
    public static boolean selfForward(Tensor qkv, dev.kiln.backend.AttentionSpec spec, Tensor out) {
        Self a = Self.of(qkv, spec, out);
        if (a == null) return false;
        try {
            Parallel.forRange(a.b * a.heads, 6L * a.t * a.t * a.d, (h0, h1) -> {
                MemorySegment sc = SCRATCH.get().get((long) a.t * a.t);
                for (int bh = h0; bh < h1; bh++) {
                    a.probabilities(bh, sc);
                    if (spec.dropout()) a.drop(bh, sc);
                    GemmF32.gemm(a.t, a.d, a.t, 1f, new GemmMatrix(sc, 0, a.t, 1), a.v(bh), 0f, a.out(bh, out), 1);
                }
            });
        } finally {
            a.close();
        }
        return true;
    }

    /**
     * Its backward into gQkv [B, T, 3E] from gOut [B, T, E]: per task the probabilities P are
     * recomputed as the forward made them (same kernels, same order), then with Pd = dropout(P):
     * dV = Pd^T dO, dP = dropout(dO V^T), dS = P (dP - rowsum(P dP)), dQ = scale dS K,
     * dK = scale dS^T Q, each written into that head's columns of gQkv.
     */
    public static boolean selfBackward(Tensor qkv, dev.kiln.backend.AttentionSpec spec, Tensor gOut, Tensor gQkv) {
        if (gQkv.dtype() != DType.F32 || !gQkv.isContiguous() || !java.util.Arrays.equals(gQkv.shape(), qkv.shape())) return false;
        Self a = Self.of(qkv, spec, gOut);
        if (a == null) return false;
        int t = a.t, d = a.d, e3 = 3 * a.heads * d;
        long tt = (long) t * t;
        try (a) {
            backwardTasks(a, gOut, gQkv, t, d, e3, tt);
        }
        return true;
    }

    private static void backwardTasks(Self a, Tensor gOut, Tensor gQkv, int t, int d, int e3, long tt) {
        dev.kiln.backend.AttentionSpec spec = a.spec;
        Parallel.forRange(a.b * a.heads, 16L * tt * d, (h0, h1) -> {
            MemorySegment buf = SCRATCH.get().get(2 * tt), p = buf.asSlice(0, tt * 4), w = buf.asSlice(tt * 4, tt * 4);
            for (int bh = h0; bh < h1; bh++) {
                int b = bh / a.heads, h = bh % a.heads;
                long row0 = (long) b * t * e3;
                GemmMatrix dO = a.out(bh, gOut);
                GemmMatrix dQ = new GemmMatrix(gQkv.segment(), gQkv.offset() + row0 + (long) h * d, e3, 1);
                GemmMatrix dK = dQ.at(0, (long) a.heads * d), dV = dQ.at(0, 2L * a.heads * d);
                a.probabilities(bh, p);
                if (spec.dropout()) {                                         // w = Pd, for dV
                    MemorySegment.copy(p, 0, w, 0, tt * 4);
                    a.drop(bh, w);
                }
                MemorySegment pd = spec.dropout() ? w : p;
                GemmF32.gemm(t, d, t, 1f, new GemmMatrix(pd, 0, 1, t), dO, 0f, dV, 1);
                GemmF32.gemm(t, t, d, 1f, dO, a.v(bh).transposed(), 0f, new GemmMatrix(w, 0, t, 1), 1);
                if (spec.dropout()) a.drop(bh, w);                           // dP = dropout(dPd)
                softmaxGrad(p, w, t);                                          // w = dS
                GemmMatrix dS = new GemmMatrix(w, 0, t, 1);
                GemmF32.gemm(t, d, t, a.scale, dS, a.k(bh), 0f, dQ, 1);
                GemmF32.gemm(t, d, t, a.scale, new GemmMatrix(w, 0, 1, t), a.q(bh), 0f, dK, 1);
            }
        });
    }

    /**
     * Softmax of each of the t rows of the t x s scores in sc, in place: the native row kernel where it
     * applies (the same bits), else ReduceNorm's F32 row kernel, or its scalar twin over {@code scores}
     * (sc wrapped as storage; non-null exactly when the scalar kernels are selected).
     */
    private static void softmaxInPlace(MemorySegment sc, int t, int s, Storage scores) {
        if (scores == null && ElemNative.softmaxRows(sc, 0, sc, 0, t, s)) return;
        for (int i = 0; i < t; i++) {
            if (scores != null) ReduceNorm.softmaxScalar(DType.F32, scores, (long) i * s, scores, (long) i * s, s, false);
            else ReduceNorm.softmaxF32(sc, (long) i * s, sc, (long) i * s, s, false);
        }
    }

    /** w = p * (w - rowsum(p * w)) per row of the t x t buffers (the softmax gradient, in w). */
    private static void softmaxGrad(MemorySegment p, MemorySegment w, int t) {
        int l = S.length();
        boolean vec = !CpuConfig.scalar();
        for (int i = 0; i < t; i++) {
            long row = (long) i * t * 4;
            int j = 0;
            float dot = 0;
            if (vec) {
                FloatVector acc = FloatVector.zero(S);
                for (; j + l <= t; j += l)
                    acc = FloatVector.fromMemorySegment(S, p, row + j * 4L, LE).fma(FloatVector.fromMemorySegment(S, w, row + j * 4L, LE), acc);
                dot = (float) Lanes.sum(acc);
            }
            for (; j < t; j++) dot += p.get(Storage.F32, row + j * 4L) * w.get(Storage.F32, row + j * 4L);
            j = 0;
            if (vec) {
                FloatVector dv = FloatVector.broadcast(S, dot);
                for (; j + l <= t; j += l) {
                    FloatVector pv = FloatVector.fromMemorySegment(S, p, row + j * 4L, LE);
                    pv.mul(FloatVector.fromMemorySegment(S, w, row + j * 4L, LE).sub(dv)).intoMemorySegment(w, row + j * 4L, LE);
                }
            }
            for (; j < t; j++) {
                long o = row + j * 4L;
                w.set(Storage.F32, o, p.get(Storage.F32, o) * (w.get(Storage.F32, o) - dot));
            }
        }
    }

    /** One fused self-attention call's geometry: qkv's and the mask's layout, per (batch, head) task. */
    private record Self(Tensor qkv, int b, int t, int heads, int d, float scale, Tensor mask, int[] lead,
                        dev.kiln.backend.AttentionSpec spec) implements AutoCloseable {
        /** Closes the mask's expanded view (not the caller's mask). */
        @Override public void close() {
            if (mask != null && mask != spec.mask()) mask.close();
        }

        static Self of(Tensor qkv, dev.kiln.backend.AttentionSpec spec, Tensor out) {
            Tensor m = spec.mask();
            if (qkv.dtype() != DType.F32 || out.dtype() != DType.F32 || !qkv.isContiguous() || !out.isContiguous() || qkv.dim() != 3
                    || (m != null && (m.dtype() != DType.F32 || m.dim() > 4)))
                return null;
            int b = qkv.size(0), t = qkv.size(1), heads = spec.heads();
            if (qkv.size(2) % (3 * heads) != 0 || out.dim() != 3 || out.size(0) != b || out.size(1) != t || out.size(2) * 3 != qkv.size(2))
                return null;
            int[] lead = {b, heads};
            return new Self(qkv, b, t, heads, qkv.size(2) / (3 * heads), spec.scale(), m == null ? null : m.expand(b, heads, t, t), lead, spec);
        }

        private GemmMatrix col(int bh, int part) {
            int bb = bh / heads, h = bh % heads, e3 = 3 * heads * d;
            return new GemmMatrix(qkv.segment(), qkv.offset() + (long) bb * t * e3 + (long) part * heads * d + (long) h * d, e3, 1);
        }

        GemmMatrix q(int bh) { return col(bh, 0); }

        GemmMatrix k(int bh) { return col(bh, 1); }

        GemmMatrix v(int bh) { return col(bh, 2); }

        /** Head bh's [T, D] block of a [B, T, E] tensor. */
        GemmMatrix out(int bh, Tensor o) {
            int bb = bh / heads, h = bh % heads, e = heads * d;
            return new GemmMatrix(o.segment(), o.offset() + (long) bb * t * e + (long) h * d, e, 1);
        }

        /** sc = softmax(scale Q K^T + mask) for task bh, T x T row-major. */
        void probabilities(int bh, MemorySegment sc) {
            GemmF32.gemm(t, t, d, scale, q(bh), k(bh).transposed(), 0f, new GemmMatrix(sc, 0, t, 1), 1);
            if (mask != null) scaleMask(sc, t, t, 1f, 1f, mask, lead, bh);
            softmaxInPlace(sc, t, t, CpuConfig.scalar() ? Storage.wrap(Backends.cpu(), sc) : null);
        }

        /** Dropout on task bh's T x T block in place: draw indices from bh * T * T (the [B, H, T, T] tensor's flat order). */
        void drop(int bh, MemorySegment sc) {
            long lo = (long) bh * t * t;
            CpuDropout.rowsF32(sc, -lo, sc, -lo, lo, lo + (long) t * t, spec.dropBase(), 64 - 24, spec.dropThreshold(), spec.dropScale(),
                    CpuDropout.vectorF32());
        }
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
