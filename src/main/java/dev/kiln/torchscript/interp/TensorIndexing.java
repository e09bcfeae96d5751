package dev.kiln.torchscript.interp;

import dev.kiln.ops.Indexing;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.List;

/** Basic tensor indexing x[i, a:b:c, None, idx]: ints select, slices view, None adds a dim, an index tensor gathers. */
final class TensorIndexing {
    private TensorIndexing() {}

    /** A slice a:b:c inside a tensor index; null parts are open. */
    record SliceSpec(Long lower, Long upper, Long step) {}

    static Tensor index(Tensor t, List<Object> parts) {
        Tensor cur = t;
        int axis = 0;
        for (Object p : parts) {
            switch (p) {
                case null -> cur = cur.unsqueeze(axis++);
                case SliceSpec s -> {
                    cur = slice(cur, axis, s.lower(), s.upper(), s.step());
                    axis++;
                }
                case Tensor idx when idx.dtype() == DType.I64 || idx.dtype() == DType.I32 -> {
                    int[] shape = idx.shape();
                    Tensor flat = idx.reshape(-1);
                    Tensor picked = Indexing.indexSelect(cur, axis, flat);
                    int[] cs = picked.shape();
                    int[] ns = new int[cs.length - 1 + shape.length];
                    System.arraycopy(cs, 0, ns, 0, axis);
                    System.arraycopy(shape, 0, ns, axis, shape.length);
                    System.arraycopy(cs, axis + 1, ns, axis + shape.length, cs.length - axis - 1);
                    cur = picked.reshape(ns);
                    axis += shape.length;
                }
                case Long l -> cur = cur.select(axis, Math.toIntExact(l));
                case Boolean b -> throw new ScriptException("boolean indexing is not supported");
                default -> throw new ScriptException("unsupported tensor index of type " + Values.typeName(p));
            }
        }
        return cur;
    }

    /** Python slice along axis, with bounds clamped into the int range. */
    static Tensor slice(Tensor t, int axis, Long lower, Long upper, Long step) {
        int d = t.size(axis);
        int st = step == null ? 1 : Math.toIntExact(step);
        return t.slice(axis, clampBound(lower, 0, d), clampBound(upper, d, d), st);
    }

    private static int clampBound(Long v, int dflt, int d) {
        if (v == null) return dflt;
        return (int) Math.max(-(long) d, Math.min(d, v));
    }
}
