package dev.kiln.torchscript.interp;

import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.Reductions;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.List;

/** Reductions (sum, mean, max/min with and without dim, argmax, var/std, logsumexp) and softmax. */
final class ReduceOps {
    private ReduceOps() {}

    static void register(OpTable t) {
        t.add("sum", "self, dim, keepdim, dtype", a -> reduce(a, ReduceOp.SUM));
        t.add("mean", "self, dim, keepdim, dtype", a -> reduce(a, ReduceOp.MEAN));
        t.add("prod", "self, dim, keepdim, dtype", a -> reduce(a, ReduceOp.PROD));
        t.add("amax", "self, dim, keepdim", a -> reduce(a, ReduceOp.MAX));
        t.add("amin", "self, dim, keepdim", a -> reduce(a, ReduceOp.MIN));
        t.add("logsumexp", "self, dim, keepdim", a -> reduce(a, ReduceOp.LOGSUMEXP));
        t.add("max", "self, dim, keepdim", a -> maxMin(a, true));
        t.add("min", "self, dim, keepdim", a -> maxMin(a, false));
        t.add("argmax", "self, dim, keepdim", a -> argReduce(a, ReduceOp.ARGMAX));
        t.add("argmin", "self, dim, keepdim", a -> argReduce(a, ReduceOp.ARGMIN));
        t.add("var", "self, dim, unbiased, keepdim", a -> variance(a, false));
        t.add("std", "self, dim, unbiased, keepdim", a -> variance(a, true));
        t.add("softmax", "self, dim, dtype", a -> softmax(a, false));
        t.add("_softmax", "self, dim, half_to_float", a -> a.tensor(0).softmax(a.getInt(1)));
        t.add("log_softmax", "self, dim, dtype", a -> softmax(a, true));
        t.add("_log_softmax", "self, dim, half_to_float", a -> a.tensor(0).logSoftmax(a.getInt(1)));
    }

    private static Object reduce(Args a, ReduceOp op) {
        Tensor x = a.tensor(0);
        DType dt = a.dtype(3);
        if (op != ReduceOp.MAX && op != ReduceOp.MIN && dt != null) x = x.to(dt);
        else if ((op == ReduceOp.SUM || op == ReduceOp.PROD) && !x.dtype().isFloating()) x = x.to(DType.I64);
        Object dim = a.get(1, null);
        if (dim instanceof Long || dim instanceof Boolean) dim = List.of(dim);
        int[] axes = dim == null ? null : Values.toInts(dim, a.op() + " dim");
        if (axes != null && axes.length == 0) axes = null;
        boolean keep = a.getBool(2, false);
        if (op == ReduceOp.MEAN && !x.dtype().isFloating()) throw a.error("mean of an integer tensor needs dtype=");
        return Reductions.reduce(op, x, axes, keep, 0);
    }

    private static Object maxMin(Args a, boolean max) {
        Object second = a.get(1, null);
        if (second instanceof Tensor other) return TensorOps.binary(max ? dev.kiln.ops.BinaryOp.MAX
                : dev.kiln.ops.BinaryOp.MIN, a.tensor(0), other);
        Tensor x = a.tensor(0);
        if (second == null) return max ? x.max() : x.min();
        int dim = a.getInt(1);
        boolean keep = a.getBool(2, false);
        Tensor values = max ? x.max(new int[]{dim}, keep) : x.min(new int[]{dim}, keep);
        Tensor idx = max ? x.argmax(dim, keep) : x.argmin(dim, keep);
        return new PyTuple(List.of(values, idx));
    }

    private static Object argReduce(Args a, ReduceOp op) {
        Tensor x = a.tensor(0);
        Object dim = a.get(1, null);
        boolean keep = a.getBool(2, false);
        if (dim == null) return Reductions.argReduce(op, x.reshape(-1), 0, false);
        return Reductions.argReduce(op, x, Math.toIntExact(Values.toLong(dim, "dim")), keep);
    }

    private static Object variance(Args a, boolean std) {
        Tensor x = a.tensor(0);
        Object dim = a.get(1, null);
        if (dim instanceof Long) dim = List.of(dim);
        int[] axes = dim == null ? null : Values.toInts(dim, a.op() + " dim");
        int correction = a.getBool(2, true) ? 1 : 0;
        Tensor v = x.var(axes, a.getBool(3, false), correction);
        return std ? v.sqrt() : v;
    }

    private static Object softmax(Args a, boolean log) {
        Tensor x = a.tensor(0);
        DType dt = a.dtype(2);
        if (dt != null) x = x.to(dt);
        int dim = a.getInt(1);
        return log ? x.logSoftmax(dim) : x.softmax(dim);
    }
}
