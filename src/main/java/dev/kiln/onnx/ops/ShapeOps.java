package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Join;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

import static dev.kiln.onnx.ops.ShapeElems.axis;
import static dev.kiln.onnx.ops.ShapeElems.one;
import static dev.kiln.onnx.ops.ShapeElems.prod;
import static dev.kiln.onnx.ops.ShapeElems.toInt;

/**
 * ONNX shape ops that are views or joins: Reshape, Shape, Size, Flatten, Transpose, Squeeze,
 * Unsqueeze, Expand, Slice (any step, as a strided view), Split (views), Concat ({@link Join#cat}),
 * Identity. The family also registers the generators ({@link ShapeMake}) and the copying shape
 * ops ({@link ShapePad}). Views share the input's storage; the executor closes each output on its own.
 */
final class ShapeOps {
    private ShapeOps() {}

    static void register(OpRegistry r) {
        r.register("Reshape", ShapeOps::reshape);
        r.register("Shape", ShapeOps::shape);
        r.register("Size", call -> one(ShapeElems.longs(new long[]{call.in(0).numel()}), ElemType.INT64));
        r.register("Flatten", ShapeOps::flatten);
        r.register("Transpose", ShapeOps::transpose);
        r.register("Squeeze", ShapeOps::squeeze);
        r.register("Unsqueeze", ShapeOps::unsqueeze);
        r.register("Expand", ShapeOps::expand);
        r.register("Slice", ShapeOps::slice);
        r.register("Split", ShapeOps::split);
        r.register("Concat", ShapeOps::concat);
        r.register("dev.kiln", "KvAppend", ShapeOps::kvAppend);
        ShapeSlots.register(r);   // GraphOptimizer's stack of stacks and the Concats that write into it (StackFusion)
        r.register("Identity", call -> List.of(ShapeElems.share(call.value(0))));
        ShapeMake.register(r);
        ShapePad.register(r);
    }

    // ------------------------------------------------------------------ Reshape, Flatten, Squeeze, Unsqueeze

    private static List<Value> reshape(OpCall call) {
        Tensor x = call.in(0);
        long[] target = call.opset() < 5 ? call.attrInts("shape", new long[0]) : call.longs(1);
        boolean allowZero = call.attrInt("allowzero", 0) != 0;
        int[] in = x.shape();
        int[] out = new int[target.length];
        int infer = -1;
        long known = 1;
        for (int k = 0; k < target.length; k++) {
            long d = target[k];
            if (d == 0 && !allowZero) {
                if (k >= in.length) throw call.error("shape " + java.util.Arrays.toString(target)
                        + " copies dim " + k + " (0) but the input " + Shape.str(in) + " has rank " + in.length);
                d = in[k];
            }
            if (d == -1) {
                if (infer >= 0) throw call.error("more than one -1 in shape " + java.util.Arrays.toString(target));
                infer = k;
                continue;
            }
            if (d < 0) throw call.error("negative dimension " + d + " in shape " + java.util.Arrays.toString(target));
            out[k] = toInt(call, d, "dimension");
            known *= d;
        }
        long n = x.numel();
        if (infer >= 0) {
            if (known == 0 || n % known != 0)
                throw call.error("cannot infer -1 reshaping " + Shape.str(in) + " to " + java.util.Arrays.toString(target));
            out[infer] = toInt(call, n / known, "dimension");
        }
        if (Shape.numel(out) != n)
            throw call.error("cannot reshape " + Shape.str(in) + " (" + n + " elements) to " + Shape.str(out));
        return one(call, x.reshape(out));
    }

    private static List<Value> flatten(OpCall call) {
        Tensor x = call.in(0);
        int r = x.dim();
        long a = call.attrInt("axis", 1);
        if (a < -r || a > r) throw call.error("axis " + a + " out of range for rank " + r);
        int axis = (int) (a < 0 ? a + r : a);
        int[] s = x.shape();
        int[] out = {toInt(call, prod(s, 0, axis), "dimension"), toInt(call, prod(s, axis, r), "dimension")};
        return one(call, x.reshape(out));
    }

    private static List<Value> squeeze(OpCall call) {
        Tensor x = call.in(0);
        long[] axes = call.opset() < 13 ? call.attrInts("axes", null) : (call.has(1) ? call.longs(1) : null);
        int[] s = x.shape();
        boolean[] drop = new boolean[s.length];
        if (axes == null) {
            for (int i = 0; i < s.length; i++) drop[i] = s[i] == 1;
        } else {
            for (long a : axes) {
                int ax = axis(call, a, s.length);
                if (s[ax] != 1) throw call.error("cannot squeeze axis " + a + " of size " + s[ax] + " in shape " + Shape.str(s));
                drop[ax] = true;
            }
        }
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < s.length; i++) if (!drop[i]) out.add(s[i]);
        return one(call, x.reshape(out.stream().mapToInt(Integer::intValue).toArray()));
    }

    private static List<Value> unsqueeze(OpCall call) {
        Tensor x = call.in(0);
        long[] axes = call.opset() < 13 ? call.attrInts("axes", null) : call.longs(1);
        if (axes == null) throw call.error("missing axes");
        int[] s = x.shape();
        int rank = s.length + axes.length;
        boolean[] added = new boolean[rank];
        for (long a : axes) {
            int ax = axis(call, a, rank);
            if (added[ax]) throw call.error("repeated axis " + a + " in " + java.util.Arrays.toString(axes));
            added[ax] = true;
        }
        int[] out = new int[rank];
        for (int i = 0, j = 0; i < rank; i++) out[i] = added[i] ? 1 : s[j++];
        return one(call, x.reshape(out));
    }

    // ------------------------------------------------------------------ Shape, Transpose, Expand

    private static List<Value> shape(OpCall call) {
        int[] s = call.in(0).shape();
        int r = s.length;
        long start = clampAxis(call.attrInt("start", 0), r);
        long end = clampAxis(call.attrInt("end", r), r);
        int n = (int) Math.max(0, end - start);
        long[] v = new long[n];
        for (int i = 0; i < n; i++) v[i] = s[(int) start + i];
        return one(ShapeElems.longs(v, n), ElemType.INT64);
    }

    private static long clampAxis(long a, int r) {
        if (a < 0) a += r;
        return Math.min(Math.max(a, 0), r);
    }

    private static List<Value> transpose(OpCall call) {
        Tensor x = call.in(0);
        int r = x.dim();
        int[] perm = call.attrIntArray("perm", null);
        if (perm == null) {
            perm = new int[r];
            for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
        }
        if (perm.length != r) throw call.error("perm " + java.util.Arrays.toString(perm) + " for input of rank " + r);
        return one(call, x.permute(perm));
    }

    private static List<Value> expand(OpCall call) {
        Tensor x = call.in(0);
        long[] target = call.longs(1);
        int[] t = new int[target.length];
        for (int i = 0; i < t.length; i++) t[i] = toInt(call, target[i], "shape value");
        int[] out;
        try {
            out = Shape.broadcast("Expand", x.shape(), t);
        } catch (IllegalArgumentException e) {
            throw call.error(e.getMessage());
        }
        return one(call, x.expand(out));
    }

    // ------------------------------------------------------------------ Slice, Split, Concat

    private static List<Value> slice(OpCall call) {
        Tensor x = call.in(0);
        long[] starts, ends, axes, steps = null;
        if (call.opset() < 10) {
            starts = call.attrInts("starts", null);
            ends = call.attrInts("ends", null);
            axes = call.attrInts("axes", null);
        } else {
            starts = call.longs(1);
            ends = call.longs(2);
            axes = call.has(3) ? call.longs(3) : null;
            steps = call.has(4) ? call.longs(4) : null;
        }
        if (starts == null || ends == null || starts.length != ends.length)
            throw call.error("starts and ends must be given with equal lengths");
        int n = starts.length;
        if ((axes != null && axes.length != n) || (steps != null && steps.length != n))
            throw call.error("starts, ends, axes and steps must have equal lengths");
        int[] shape = x.shape();
        long[] strides = x.strides();
        long offset = x.offset();
        boolean[] seen = new boolean[shape.length];
        for (int k = 0; k < n; k++) {
            int a = axis(call, axes == null ? k : axes[k], shape.length);
            if (seen[a]) throw call.error("axis " + a + " sliced twice");
            seen[a] = true;
            long step = steps == null ? 1 : steps[k];
            if (step == 0) throw call.error("step 0 on axis " + a);
            long[] range = sliceRange(starts[k], ends[k], step, shape[a]);
            if (range[1] > 0) offset += range[0] * strides[a];
            shape[a] = (int) range[1];
            strides[a] *= step;
        }
        return one(call, Tensor.of(x.storage(), x.dtype(), shape, strides, offset));
    }

    /** {first index, length} of start:end:step over a dim of size d, clamped as ONNX Slice does. */
    static long[] sliceRange(long start, long end, long step, int d) {
        if (d == 0) return new long[]{0, 0};
        if (start < 0) start += d;
        if (end < 0) end += d;
        long len;
        if (step > 0) {
            start = Math.clamp(start, 0, d);
            end = Math.clamp(end, 0, d);
            len = end > start ? (end - start - 1) / step + 1 : 0;
        } else {
            start = Math.clamp(start, 0, d - 1);
            end = Math.clamp(end, -1, d - 1);
            len = start > end ? (start - end - 1) / -step + 1 : 0;
        }
        return new long[]{start, len};
    }

    private static List<Value> split(OpCall call) {
        Tensor x = call.in(0);
        int a = axis(call, call.attrInt("axis", 0), x.dim());
        int d = x.shape()[a];
        long[] split = call.opset() < 13 ? call.attrInts("split", null) : (call.has(1) ? call.longs(1) : null);
        int[] sizes;
        if (split != null) {
            sizes = new int[split.length];
            for (int i = 0; i < sizes.length; i++) sizes[i] = toInt(call, split[i], "split size");
        } else {
            int n = (int) call.attrInt("num_outputs", call.outputCount());
            if (n <= 0) throw call.error("cannot split into " + n + " outputs");
            sizes = new int[n];
            if (d % n != 0 && call.opset() < 18)
                throw call.error("dim " + a + " of size " + d + " does not split into " + n + " equal parts");
            int chunk = (d + n - 1) / n;
            for (int i = 0, left = d; i < n; i++, left -= chunk) sizes[i] = Math.max(0, Math.min(chunk, left));
        }
        Tensor[] parts;
        try {
            parts = Join.split(x, sizes, a);
        } catch (IllegalArgumentException e) {
            throw call.error(e.getMessage());
        }
        ElemType t = call.type(0);
        List<Value> out = new ArrayList<>(parts.length);
        for (Tensor p : parts) out.add(Value.of(p, t));
        return out;
    }

    /**
     * dev.kiln KvAppend(past, new; axis): Concat of a key/value cache with the step's new entries,
     * which extends past in place when its memory lets ops append ({@code Storage.appendAllowed}: a
     * decoder's preallocated cache) and has room along axis; the result is then a longer view of
     * the same memory and nothing is copied but the new entries. Otherwise a plain Concat.
     */
    private static List<Value> kvAppend(OpCall call) {
        if (call.inputCount() != 2 || !call.has(0) || !call.has(1)) return concat(call);
        Tensor past = call.in(0), add = call.in(1);
        int a = axis(call, call.attrInt("axis", 0), past.dim());
        Tensor grown = appendInPlace(past, add, a);
        return grown != null ? one(call, grown) : concat(call);
    }

    /** past extended along axis a by add inside past's own memory, or null when its layout or memory does not allow it. */
    static Tensor appendInPlace(Tensor past, Tensor add, int a) {
        if (!past.storage().appendAllowed() || !past.storage().isHost() || past.dtype() != add.dtype() || past.dim() != add.dim()) return null;
        int[] ps = past.shape(), as = add.shape();
        for (int i = 0; i < ps.length; i++) if (i != a && ps[i] != as[i]) return null;
        if (a == 0) return null;                  // the capacity lives in the stride of the axis before
        long[] st = past.strides();
        int d = ps.length;
        // a prefix along a of a contiguous buffer whose axis a holds cap entries
        if (st[d - 1] != 1) return null;
        for (int i = d - 1; i > a; i--) if (st[i - 1] != st[i] * ps[i]) return null;
        if (st[a] <= 0 || st[a - 1] % st[a] != 0) return null;
        long cap = st[a - 1] / st[a];
        for (int i = a - 1; i > 0; i--) if (st[i - 1] != st[i] * ps[i]) return null;
        int[] gs = ps.clone();
        gs[a] += as[a];
        if (gs[a] > cap) return null;
        long last = past.offset();
        for (int i = 0; i < d; i++) last += (long) (gs[i] - 1) * st[i];
        if (last >= past.storage().byteSize() / past.dtype().byteSize()) return null;
        Tensor grown = Tensor.of(past.storage(), past.dtype(), gs, st, past.offset());
        try (Tensor region = grown.narrow(a, ps[a], as[a])) {
            region.copyFrom(add);
        }
        return grown;
    }

    static List<Value> concat(OpCall call) {
        if (!call.hasAttr("axis")) throw call.error("missing attribute axis");
        List<Tensor> parts = new ArrayList<>();
        for (int i = 0; i < call.inputCount(); i++) if (call.has(i)) parts.add(call.in(i));
        if (parts.isEmpty()) throw call.error("no inputs");
        int a = axis(call, call.attrInt("axis", 0), parts.get(0).dim());
        try {
            return one(call, Join.cat(parts.toArray(Tensor[]::new), a));
        } catch (IllegalArgumentException e) {
            throw call.error(e.getMessage());
        }
    }
}
