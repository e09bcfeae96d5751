package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Indexing;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static dev.kiln.onnx.ops.ShapeElems.axis;
import static dev.kiln.onnx.ops.ShapeElems.index;
import static dev.kiln.onnx.ops.ShapeElems.one;
import static dev.kiln.onnx.ops.ShapeElems.prod;

/**
 * ONNX gathering ops: Gather ({@link Indexing#indexSelect}), GatherElements ({@link Indexing#gather}),
 * GatherND, Compress, NonZero and OneHot. Indices may be negative (counted from the end) and are
 * checked against the axis. The family also registers the scatters ({@link IndexScatter}) and the
 * sorting ops ({@link IndexSort}).
 */
final class IndexOps {
    private IndexOps() {}

    static void register(OpRegistry r) {
        r.register("Gather", IndexOps::gather);
        r.register("GatherElements", IndexOps::gatherElements);
        r.register("GatherND", IndexOps::gatherNd);
        r.register("Compress", IndexOps::compress);
        r.register("NonZero", IndexOps::nonZero);
        r.register("OneHot", IndexOps::oneHot);
        IndexScatter.register(r);
        IndexSort.register(r);
    }

    /** Index tensor values, each checked against [-len, len) and made non-negative. */
    static long[] normalized(OpCall call, Tensor idx, long len) {
        long[] v = idx.toLongArray();
        for (int i = 0; i < v.length; i++) v[i] = index(call, v[i], len);
        return v;
    }

    /** Picks positions {@code pos} along axis a: x.shape with dim a replaced by pos.length. */
    static Tensor select(OpCall call, Tensor x, int a, long[] pos) {
        try (Tensor idx = onBackendOf(x, ShapeElems.longs(pos, pos.length))) {
            return Indexing.indexSelect(x, a, idx);
        } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
            throw call.error(e.getMessage());
        }
    }

    /** idx (a new CPU tensor) moved to x's backend when x lives elsewhere. */
    private static Tensor onBackendOf(Tensor x, Tensor idx) {
        if (x.backend() == idx.backend()) return idx;
        Tensor moved = idx.to(x.backend());
        idx.close();
        return moved;
    }

    private static List<Value> gather(OpCall call) {
        Tensor x = call.in(0), idx = call.in(1);
        int r = x.dim();
        if (r == 0) throw call.error("data must have rank >= 1");
        int a = axis(call, call.attrInt("axis", 0), r);
        int[] xs = x.shape(), is = idx.shape();
        long[] pos = normalized(call, idx, xs[a]);
        int[] out = new int[r - 1 + is.length];
        System.arraycopy(xs, 0, out, 0, a);
        System.arraycopy(is, 0, out, a, is.length);
        System.arraycopy(xs, a + 1, out, a + is.length, r - a - 1);
        try (Tensor picked = contiguousRange(pos) ? x.narrow(a, (int) pos[0], pos.length) : select(call, x, a, pos)) {
            return one(call, picked.reshape(out));   // a view when the indices are one index or a run (a KV-cache layer, a position)
        }
    }

    /** Whether pos is p, p+1, ..., p+n-1 (n >= 1): then Gather is a view of data, no copy. */
    private static boolean contiguousRange(long[] pos) {
        if (pos.length == 0) return false;
        for (int i = 1; i < pos.length; i++) if (pos[i] != pos[0] + i) return false;
        return true;
    }

    private static List<Value> gatherElements(OpCall call) {
        Tensor x = call.in(0), idx = call.in(1);
        int r = x.dim();
        if (idx.dim() != r) throw call.error("indices shape " + Shape.str(idx.shape()) + " must have the rank of data shape " + Shape.str(x.shape()));
        int a = axis(call, call.attrInt("axis", 0), r);
        long[] pos = normalized(call, idx, x.shape()[a]);
        try (Tensor it = onBackendOf(x, ShapeElems.longs(pos, idx.shape()))) {
            return one(call, Indexing.gather(x, a, it));
        } catch (IllegalArgumentException e) {
            throw call.error(e.getMessage());
        }
    }

    /** GatherND: each index tuple (last dim of indices) picks a slice of data, per batch. */
    private static List<Value> gatherNd(OpCall call) {
        Tensor idx = call.in(1);
        int[] xs = call.in(0).shape(), is = idx.shape();
        int b = (int) call.attrInt("batch_dims", 0), q = is.length, r = xs.length;
        if (q < 1 || b < 0 || b >= Math.min(q, r)) throw call.error("batch_dims " + b + " invalid for data " + Shape.str(xs) + ", indices " + Shape.str(is));
        int m = is[q - 1];
        if (m > r - b) throw call.error("index tuples of length " + m + " too long for data " + Shape.str(xs) + " with batch_dims " + b);
        for (int i = 0; i < b; i++)
            if (xs[i] != is[i]) throw call.error("batch dims differ: data " + Shape.str(xs) + ", indices " + Shape.str(is));
        int[] out = new int[q - 1 + r - b - m];
        System.arraycopy(is, 0, out, 0, q - 1);
        System.arraycopy(xs, b + m, out, q - 1, r - b - m);
        long batches = prod(xs, 0, b), tuples = prod(is, b, q - 1), chunk = prod(xs, b + m, r), batchSize = prod(xs, b, r);
        long[] iv = idx.toLongArray();
        Tensor y = ShapeElems.alloc(call.in(0).dtype(), out);
        try (Tensor x = ShapeElems.host(call.in(0))) {
            MemorySegment s = x.segment(), d = y.segment();
            int es = x.dtype().byteSize();
            for (long bi = 0; bi < batches; bi++) {
                for (long t = 0; t < tuples; t++) {
                    long tuple = bi * tuples + t, pos = 0;
                    for (int j = 0; j < m; j++) pos = pos * xs[b + j] + index(call, iv[(int) (tuple * m + j)], xs[b + j]);
                    ShapeElems.moveRun(s, x.offset() + bi * batchSize + pos * chunk, d, tuple * chunk, chunk, es);
                }
            }
        }
        return one(call, y);
    }

    /** Compress: the slices along axis (or elements of the flattened input) where condition is true. */
    private static List<Value> compress(OpCall call) {
        Tensor x = call.in(0);
        long[] cond = call.longs(1);
        boolean flat = !call.hasAttr("axis");
        int a = flat ? 0 : axis(call, call.attrInt("axis", 0), x.dim());
        try (Tensor base = flat ? x.reshape(-1) : ShapeElems.alias(x)) {
            int d = base.shape()[a];
            if (cond.length > d) throw call.error("condition of length " + cond.length + " longer than axis of size " + d);
            int n = 0;
            for (long c : cond) if (c != 0) n++;
            long[] pos = new long[n];
            for (int i = 0, j = 0; i < cond.length; i++) if (cond[i] != 0) pos[j++] = i;
            return one(call, select(call, base, a, pos));
        }
    }

    /** NonZero: int64 (rank, count) coordinates of non-zero elements in row-major order. */
    private static List<Value> nonZero(OpCall call) {
        Tensor in = call.in(0);
        int[] s = in.dim() == 0 ? new int[]{1} : in.shape(); // a scalar counts as a 1-element vector
        try (Tensor x = ShapeElems.host(in)) {
            Storage st = x.storage();
            long n = x.numel(), count = 0;
            boolean[] nz = new boolean[(int) n];
            for (int i = 0; i < n; i++) if (nz[i] = st.getDouble(x.dtype(), x.offset() + i) != 0) count++;
            int r = s.length;
            long[] out = new long[(int) (r * count)];
            long k = 0;
            for (int i = 0; i < n; i++) {
                if (!nz[i]) continue;
                for (int a = r - 1, f = i; a >= 0; a--) {
                    out[(int) (a * count + k)] = f % s[a];
                    f /= s[a];
                }
                k++;
            }
            return one(ShapeElems.longs(out, r, (int) count), ElemType.INT64);
        }
    }

    /** OneHot: inserts a depth-sized axis; values = [off, on] (their type is the output's). */
    private static List<Value> oneHot(OpCall call) {
        Tensor idx = call.in(0), values = call.in(2);
        if (values.numel() != 2) throw call.error("values must hold [off, on], got shape " + Shape.str(values.shape()));
        long depth = (long) ShapeElems.scalar(call, 1);
        if (depth <= 0) throw call.error("depth must be positive, got " + depth);
        int[] is = idx.shape();
        int r = is.length;
        int a = axis(call, call.attrInt("axis", -1), r + 1);
        int[] out = new int[r + 1];
        System.arraycopy(is, 0, out, 0, a);
        out[a] = ShapeElems.toInt(call, depth, "depth");
        System.arraycopy(is, a, out, a + 1, r - a);
        double[] iv = idx.toDoubleArray();
        long inner = prod(is, a, r);
        Tensor y = ShapeElems.alloc(values.dtype(), out);
        try (Tensor v = ShapeElems.host(values)) {
            ShapeMake.fill(y, v.segment(), v.offset());
            MemorySegment d = y.segment();
            int es = y.dtype().byteSize();
            for (int k = 0; k < iv.length; k++) {
                long j = (long) iv[k];
                if (j < 0) j += depth;
                if (j < 0 || j >= depth) continue;
                long o = k / inner, i = k % inner;
                ShapeElems.move(v.segment(), v.offset() + 1, d, (o * depth + j) * inner + i, es);
            }
        }
        return one(y, call.type(2));
    }
}
