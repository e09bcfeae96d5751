package dev.kiln.torchscript.interp;

import dev.kiln.ops.Indexing;
import dev.kiln.ops.Join;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Shape queries and views (size, dim, view/reshape/flatten, permute/transpose, (un)squeeze,
 * expand, repeat, slice/select/narrow), joins and splits (cat, stack, chunk, split, unbind),
 * gathers (index_select, gather), dtype conversion, masked_fill / where and constant padding.
 */
final class ShapeOps {
    private ShapeOps() {}

    static void register(OpTable t) {
        queries(t);
        views(t);
        joins(t);
        misc(t);
        Factories.register(t);
    }

    private static void queries(OpTable t) {
        t.add("size", "self, dim", a -> a.has(1) ? (Object) (long) a.tensor(0).size(a.getInt(1))
                : Values.intList(a.tensor(0).shape()));
        t.add("dim", "self", a -> (long) a.tensor(0).dim());
        t.add("numel", "self", a -> a.tensor(0).numel());
        t.add("is_floating_point", "self", a -> a.tensor(0).dtype().isFloating());
        t.add("is_contiguous", "self", a -> a.tensor(0).isContiguous());
        t.add("item", "self", a -> {
            Tensor x = a.tensor(0);
            if (x.numel() != 1) throw a.error("a Tensor with " + x.numel() + " elements cannot be converted to a scalar");
            return x.dtype() == DType.BOOL ? (Object) (x.getFlat(0) != 0)
                    : x.dtype().isFloating() ? (Object) x.getFlat(0) : (Object) (long) x.getFlat(0);
        });
    }

    private static void views(OpTable t) {
        t.add("view", "self, size", a -> a.tensor(0).view(a.ints(1)));
        t.add("reshape", "self, shape", a -> a.tensor(0).reshape(a.ints(1)));
        t.add("view_as", "self, other", a -> a.tensor(0).view(a.tensor(1).shape()));
        t.add("reshape_as", "self, other", a -> a.tensor(0).reshape(a.tensor(1).shape()));
        t.add("flatten", "self, start_dim, end_dim", a -> flatten(a.tensor(0), a.getInt(1, 0), a.getInt(2, -1)));
        t.add("permute", "self, dims", a -> a.tensor(0).permute(a.ints(1)));
        t.add("transpose", "self, dim0, dim1", a -> a.tensor(0).transpose(a.getInt(1), a.getInt(2)));
        t.add("t", "self", a -> a.tensor(0).dim() < 2 ? a.tensor(0) : a.tensor(0).transpose(0, 1));
        t.add("unsqueeze", "self, dim", a -> a.tensor(0).unsqueeze(a.getInt(1)));
        t.add("squeeze", "self, dim", a -> squeeze(a));
        t.add("expand", "self, size, implicit", a -> a.tensor(0).expand(a.ints(1)));
        t.add("expand_as", "self, other", a -> a.tensor(0).expand(a.tensor(1).shape()));
        t.add("repeat", "self, repeats", a -> repeat(a.tensor(0), a.ints(1)));
        t.add("contiguous", "self, memory_format", a -> a.tensor(0).contiguous());
        t.add("clone", "self, memory_format", a -> a.tensor(0).clone());
        t.add("detach", "self", a -> a.tensor(0));
        t.add("select", "self, dim, index", a -> a.tensor(0).select(a.getInt(1), a.getInt(2)));
        t.add("narrow", "self, dim, start, length", a -> a.tensor(0).narrow(a.getInt(1), a.getInt(2), a.getInt(3)));
        t.add("slice", "self, dim, start, end, step", ShapeOps::slice);
        t.add("index_select", "self, dim, index", a -> Indexing.indexSelect(a.tensor(0), a.getInt(1), a.tensor(2)));
        t.add("gather", "self, dim, index, sparse_grad", a -> Indexing.gather(a.tensor(0), a.getInt(1), a.tensor(2)));
    }

    static Tensor flatten(Tensor x, int start, int end) {
        int n = x.dim();
        if (n == 0) return x.reshape(1);
        int s = start < 0 ? start + n : start, e = end < 0 ? end + n : end;
        if (s < 0 || e >= n || s > e) throw new ScriptException("flatten: dims " + start + ".." + end + " out of range for rank " + n);
        int[] shape = x.shape();
        int[] out = new int[n - (e - s)];
        int k = 0;
        for (int i = 0; i < s; i++) out[k++] = shape[i];
        long p = 1;
        for (int i = s; i <= e; i++) p *= shape[i];
        out[k++] = Math.toIntExact(p);
        for (int i = e + 1; i < n; i++) out[k++] = shape[i];
        return x.reshape(out);
    }

    private static Tensor squeeze(Args a) {
        Tensor x = a.tensor(0);
        Object dim = a.get(1, null);
        if (dim == null) return x.squeeze();
        int d = Math.toIntExact(Values.toLong(dim, "squeeze dim"));
        if (x.dim() == 0) return x;
        int ax = d < 0 ? d + x.dim() : d;
        return x.shape()[ax] == 1 ? x.squeeze(ax) : x;
    }

    private static Tensor repeat(Tensor x, int[] reps) {
        if (reps.length < x.dim()) throw new ScriptException("repeat: fewer repeats (" + reps.length + ") than dims (" + x.dim() + ")");
        int[] s = new int[reps.length];
        int off = reps.length - x.dim();
        for (int i = 0; i < reps.length; i++) s[i] = i < off ? 1 : x.shape()[i - off];
        int[] inter = new int[2 * reps.length], big = new int[2 * reps.length], out = new int[reps.length];
        for (int i = 0; i < reps.length; i++) {
            inter[2 * i] = 1;
            inter[2 * i + 1] = s[i];
            big[2 * i] = reps[i];
            big[2 * i + 1] = s[i];
            out[i] = reps[i] * s[i];
        }
        return x.reshape(inter).expand(big).reshape(out);
    }

    private static Object slice(Args a) {
        Object v = a.get(0);
        if (!(v instanceof Tensor x)) { // list slicing: slice(l, start, end, step)
            return Sequences.slice(v, optLong(a.get(1, null)), optLong(a.get(2, null)), optLong(a.get(3, null)));
        }
        return TensorIndexing.slice(x, a.getInt(1, 0), optLong(a.get(2, null)), optLong(a.get(3, null)),
                optLong(a.get(4, null)));
    }

    private static Long optLong(Object v) { return v == null ? null : Values.toLong(v, "slice"); }

    private static void joins(OpTable t) {
        t.add("cat", "tensors, dim", a -> Join.cat(tensors(a.get(0)), a.getInt(1, 0)));
        t.add("concat", "tensors, dim", a -> Join.cat(tensors(a.get(0)), a.getInt(1, 0)));
        t.add("stack", "tensors, dim", a -> Join.stack(tensors(a.get(0)), a.getInt(1, 0)));
        t.add("chunk", "self, chunks, dim", a -> chunk(a.tensor(0), a.getInt(1), a.getInt(2, 0)));
        t.add("split", "self, split_size, dim", a -> split(a.tensor(0), a.get(1), a.getInt(2, 0)));
        t.add("split_with_sizes", "self, split_sizes, dim", a -> split(a.tensor(0), a.get(1), a.getInt(2, 0)));
        t.add("unbind", "self, dim", a -> {
            Tensor x = a.tensor(0);
            int d = a.getInt(1, 0);
            List<Object> out = new ArrayList<>();
            for (int i = 0; i < x.size(d); i++) out.add(x.select(d, i));
            return out;
        });
    }

    static Tensor[] tensors(Object v) {
        List<Object> items = Values.items(v, "tensor list");
        Tensor[] out = new Tensor[items.size()];
        for (int i = 0; i < out.length; i++) out[i] = Values.tensor(items.get(i), "tensor list");
        return out;
    }

    static List<Object> chunk(Tensor x, int chunks, int dim) {
        int n = x.size(dim);
        int size = Math.max(1, (n + chunks - 1) / chunks);
        return split(x, (long) size, dim);
    }

    static List<Object> split(Tensor x, Object sizeOrSizes, int dim) {
        int n = x.size(dim);
        int[] sizes;
        if (sizeOrSizes instanceof Long s) {
            if (s <= 0) throw new ScriptException("split: split_size must be positive, got " + s);
            int parts = Math.max(1, (int) ((n + s - 1) / s));
            sizes = new int[parts];
            for (int i = 0; i < parts; i++) sizes[i] = (int) Math.min(s, n - i * s);
        } else {
            sizes = Values.toInts(sizeOrSizes, "split sizes");
            if (Arrays.stream(sizes).sum() != n)
                throw new ScriptException("split: sizes " + Arrays.toString(sizes) + " do not sum to " + n);
        }
        List<Object> out = new ArrayList<>();
        int start = 0;
        for (int s : sizes) {
            out.add(x.slice(dim, start, start + s, 1));
            start += s;
        }
        return out;
    }

    private static void misc(OpTable t) {
        t.add("to", "self, dtype, layout, device, pin_memory, non_blocking, copy, memory_format", ShapeOps::to);
        t.add("type_as", "self, other", a -> a.tensor(0).to(a.tensor(1).dtype()));
        t.add("masked_fill", "self, mask, value", a -> maskedFill(a.tensor(0), a.tensor(1), a.get(2)));
        t.add("masked_fill_", "self, mask, value", a -> maskedFill(a.tensor(0), a.tensor(1), a.get(2)));
        t.add("where", "condition, self, other", a -> {
            Tensor c = a.tensor(0);
            Tensor x = asTensor(a.get(1), a.get(2));
            Tensor y = asTensor(a.get(2), x);
            return Tensor.where(c, x, y);
        });
        t.add("pad", "self, pad, mode, value", a -> pad(a.tensor(0), a.ints(1), a.getString(2, "constant"),
                a.getDouble(3, 0)));
        t.add("constant_pad_nd", "self, pad, value", a -> pad(a.tensor(0), a.ints(1), "constant", a.getDouble(2, 0)));
        t.add("embedding", "weight, indices, padding_idx, scale_grad_by_freq, sparse", a -> embedding(a.tensor(0), a.tensor(1)));
    }

    /**
     * Every Tensor.to overload torch prints: to(dtype, ...), to(device, dtype, ...), to(other, ...),
     * the keyword form to(dtype=, layout=, device=, pin_memory=, ...) and the prim forms
     * to(device?, dtype?, non_blocking, copy) / to(dtype?, ...). Devices are accepted and ignored.
     */
    private static Object to(Args a) {
        Tensor x = a.tensor(0);
        List<Object> pos = a.positional();
        DType target = null;
        if (pos.size() > 1) {
            Object first = pos.get(1);
            Object dt = switch (first) {
                case Long code -> code;
                case Tensor other -> other.dtype();
                case Refs.Device d -> pos.size() > 2 && pos.get(2) instanceof Long code ? code : null;
                case String device -> pos.size() > 2 && pos.get(2) instanceof Long code ? code : null;
                case null -> pos.size() > 2 && pos.get(2) instanceof Long code ? code : null; // prim: to(None, dtype)
                default -> null; // prim_other: to(non_blocking, copy)
            };
            target = dt instanceof DType d ? d : dt instanceof Long code ? ScalarTypes.dtype(code) : null;
        } else {
            target = a.dtype(1); // keywords only
            Object layout = a.get(2, null);
            if (layout != null && Values.toLong(layout, "to layout") != 0) throw a.error("layout " + layout + " is not supported (only torch.strided)");
        }
        return target == null || target == x.dtype() ? x : x.to(target);
    }

    /** A scalar operand as a 0-d tensor with the other operand's dtype. */
    private static Tensor asTensor(Object v, Object like) {
        if (v instanceof Tensor t) return t;
        DType dt = like instanceof Tensor o ? o.dtype() : v instanceof Double ? DType.F32 : DType.I64;
        if (v instanceof Double && !dt.isFloating()) dt = DType.F32;
        return Tensor.scalar(Values.toDouble(v, "where"), dt);
    }

    private static Tensor maskedFill(Tensor x, Tensor mask, Object value) {
        Tensor m = mask.dtype() == DType.BOOL ? mask : mask.ne(Tensor.scalar(0, mask.dtype()));
        Tensor v = value instanceof Tensor vt ? vt.to(x.dtype()) : Tensor.scalar(Values.toDouble(value, "masked_fill"), x.dtype());
        return Tensor.where(m, v, x);
    }

    private static Tensor pad(Tensor x, int[] pad, String mode, double value) {
        if (!mode.equals("constant")) throw new ScriptException("pad: only constant padding is supported, got '" + mode + "'");
        if (pad.length % 2 != 0 || pad.length / 2 > x.dim()) throw new ScriptException("pad: bad padding " + Arrays.toString(pad));
        Tensor cur = x;
        for (int i = 0; i < pad.length / 2; i++) {
            int axis = x.dim() - 1 - i;
            int before = pad[2 * i], after = pad[2 * i + 1];
            if (before < 0 || after < 0) throw new ScriptException("pad: negative padding is not supported");
            List<Tensor> parts = new ArrayList<>();
            if (before > 0) parts.add(filled(cur, axis, before, value));
            parts.add(cur);
            if (after > 0) parts.add(filled(cur, axis, after, value));
            if (parts.size() > 1) cur = Join.cat(parts.toArray(new Tensor[0]), axis);
        }
        return cur;
    }

    private static Tensor filled(Tensor like, int axis, int n, double value) {
        int[] s = like.shape();
        s[axis] = n;
        return Tensor.full(value, like.dtype(), s);
    }

    static Tensor embedding(Tensor weight, Tensor ids) { return Indexing.embedding("embedding", weight, ids); }

    static PyTuple tuple(Object... items) { return new PyTuple(Arrays.asList(items)); }
}
