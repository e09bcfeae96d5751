package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Reductions;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * ONNX ops along one axis (registered by {@link ReduceOps}): ArgMax/ArgMin (keepdims,
 * select_last_index), Softmax/LogSoftmax/Hardmax (before opset 13 the input is coerced to 2-D at
 * the axis, from 13 on the op runs along the single axis) and CumSum (exclusive, reverse).
 * Float ArgMax/ArgMin and Softmax/LogSoftmax run on the engine; the rest are loops over the
 * (outer, axis, inner) view of a contiguous copy.
 */
final class ReduceAxisOps {
    private ReduceAxisOps() {}

    static void register(OpRegistry r) {
        r.register("ArgMax", c -> arg(c, true));
        r.register("ArgMin", c -> arg(c, false));
        r.register("Softmax", c -> softmax(c, false));
        r.register("LogSoftmax", c -> softmax(c, true));
        r.register("Hardmax", ReduceAxisOps::hardmax);
        r.register("CumSum", ReduceAxisOps::cumSum);
    }

    /** (outer, n, inner) sizes of shape around axis. */
    static int[] split(int[] shape, int axis) {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.length; i++) inner *= shape[i];
        return new int[]{outer, shape.length == 0 ? 1 : shape[axis], inner};
    }

    // ------------------------------------------------------------------ ArgMax / ArgMin

    private static List<Value> arg(OpCall c, boolean max) {
        Tensor x = c.in(0);
        ElemType t = c.type(0);
        int axis = ReduceOps.axis(c, c.attrInt("axis", 0), x);
        boolean keep = c.attrInt("keepdims", 1) != 0;
        boolean last = c.attrInt("select_last_index", 0) != 0;
        if (x.dim() > 0 && x.shape()[axis] == 0) throw c.error("cannot take " + c.node().opType() + " over an empty axis");
        if (t.isFloat() && !last) {
            Tensor r = max ? x.argmax(axis, keep) : x.argmin(axis, keep);
            return MathOps.one(r, ElemType.INT64);
        }
        int[] s = split(x.shape(), axis);
        double[] v = MathKernels.doubles(x, t);
        long[] out = new long[s[0] * s[2]];
        for (int o = 0; o < s[0]; o++) {
            for (int in = 0; in < s[2]; in++) {
                int best = 0;
                double bv = v[o * s[1] * s[2] + in];
                for (int k = 1; k < s[1]; k++) {
                    double cur = v[(o * s[1] + k) * s[2] + in];
                    boolean better = max ? (last ? cur >= bv : cur > bv) : (last ? cur <= bv : cur < bv);
                    if (better) { best = k; bv = cur; }
                }
                out[o * s[2] + in] = best;
            }
        }
        int[] axes = x.dim() == 0 ? new int[0] : new int[]{axis};
        return MathOps.one(Tensor.fromArray(out, ReduceOps.outShape(x.shape(), axes, keep)), ElemType.INT64);
    }

    // ------------------------------------------------------------------ Softmax family

    private static int softmaxAxis(OpCall c, Tensor x) {
        return ReduceOps.axis(c, c.attrInt("axis", c.opset() < 13 ? 1 : -1), x);
    }

    /** x viewed as 2-D [prod(dims before axis), prod(dims from axis)] (the opset < 13 coercion). */
    private static Tensor coerced(Tensor x, int axis) {
        int[] s = x.shape();
        int outer = 1;
        for (int i = 0; i < axis; i++) outer *= s[i];
        long inner = x.numel() / Math.max(outer, 1);
        return x.reshape(outer, (int) inner);
    }

    private static List<Value> softmax(OpCall c, boolean log) {
        Tensor x = c.in(0);
        ElemType t = c.type(0);
        if (!t.isFloat()) throw c.error("input must be a float type, got " + t);
        if (x.dim() == 0) throw c.error("input must have at least one dimension");
        int axis = softmaxAxis(c, x);
        try (Scope s = Scope.open()) {
            boolean coerce = c.opset() < 13 && axis != x.dim() - 1;
            Tensor in = coerce ? coerced(x, axis) : x;
            Tensor r = Reductions.softmax(in, coerce ? 1 : axis, log);
            if (coerce) r = r.reshape(x.shape());
            if (r.dtype() != t.storage()) r = r.to(t.storage());
            return MathOps.one(s.keep(r), t);
        }
    }

    private static List<Value> hardmax(OpCall c) {
        Tensor x = c.in(0);
        ElemType t = c.type(0);
        if (x.dim() == 0) throw c.error("input must have at least one dimension");
        int axis = softmaxAxis(c, x);
        int[] sp = split(x.shape(), axis);
        if (c.opset() < 13) sp = new int[]{sp[0], sp[1] * sp[2], 1}; // rows of the 2-D coercion
        double[] v = MathKernels.doubles(x, t);
        double[] out = new double[v.length];
        for (int o = 0; o < sp[0]; o++) {
            for (int in = 0; in < sp[2]; in++) {
                int best = 0;
                for (int k = 1; k < sp[1]; k++)
                    if (v[(o * sp[1] + k) * sp[2] + in] > v[(o * sp[1] + best) * sp[2] + in]) best = k;
                if (sp[1] > 0) out[(o * sp[1] + best) * sp[2] + in] = 1;
            }
        }
        return MathOps.one(MathKernels.fromDoubles(out, t, x.shape()), t);
    }

    // ------------------------------------------------------------------ CumSum

    private static List<Value> cumSum(OpCall c) {
        Tensor x = c.in(0);
        ElemType t = c.type(0);
        long[] ax = c.longs(1);
        if (ax.length != 1) throw c.error("axis must be a scalar, got " + ax.length + " values");
        int axis = ReduceOps.axis(c, ax[0], x);
        boolean exclusive = c.attrInt("exclusive", 0) != 0, reverse = c.attrInt("reverse", 0) != 0;
        int[] s = split(x.shape(), axis);
        if (t.isFloat()) {
            double[] v = MathKernels.doubles(x, t), out = new double[v.length];
            for (int o = 0; o < s[0]; o++) {
                for (int in = 0; in < s[2]; in++) {
                    double acc = 0;
                    for (int j = 0; j < s[1]; j++) {
                        int idx = (o * s[1] + (reverse ? s[1] - 1 - j : j)) * s[2] + in;
                        if (exclusive) { out[idx] = acc; acc += v[idx]; }
                        else { acc += v[idx]; out[idx] = acc; }
                    }
                }
            }
            return MathOps.one(MathKernels.fromDoubles(out, t, x.shape()), t);
        }
        long[] v = MathKernels.longs(x), out = new long[v.length];
        for (int o = 0; o < s[0]; o++) {
            for (int in = 0; in < s[2]; in++) {
                long acc = 0;
                for (int j = 0; j < s[1]; j++) {
                    int idx = (o * s[1] + (reverse ? s[1] - 1 - j : j)) * s[2] + in;
                    if (exclusive) { out[idx] = acc; acc += v[idx]; }
                    else { acc += v[idx]; out[idx] = acc; }
                }
            }
        }
        return MathOps.one(MathKernels.fromLongs(out, t, x.shape()), t);
    }
}
