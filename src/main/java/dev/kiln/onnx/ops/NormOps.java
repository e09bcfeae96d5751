package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * ONNX normalization ops: BatchNormalization (inference and opset-14+ training mode),
 * InstanceNormalization, LayerNormalization (on Kiln's fused layer norm), MeanVarianceNormalization.
 * Dropout lives in {@link NormDropout}, the losses in {@link NormLosses}; both register from here.
 *
 * <p>Per-channel coefficients (a handful of values) are folded in double precision, then the
 * tensor work is one multiply and one add with broadcasting, in the input's dtype.
 */
final class NormOps {
    private NormOps() {}

    static void register(OpRegistry r) {
        r.register("BatchNormalization", NormOps::batchNorm);
        r.register("InstanceNormalization", NormOps::instanceNorm);
        r.register("LayerNormalization", NormOps::layerNorm);
        r.register("dev.kiln", "LayerNormalization", NormOps::layerNorm);   // GraphOptimizer's fused written-out LayerNorm (LayerNormFusion)
        r.register("MeanVarianceNormalization", NormOps::meanVarianceNorm);
        NormDropout.register(r);
        NormLosses.register(r);
    }

    // ------------------------------------------------------------------ BatchNormalization

    private static List<Value> batchNorm(OpCall call) {
        Tensor x = call.in(0);
        if (x.dim() < 2) throw call.error("input X must have rank >= 2 (N, C, ...), got shape " + Arrays.toString(x.shape()));
        double eps = call.attrFloat("epsilon", 1e-5f);
        boolean training = call.opset() >= 14 && call.attrInt("training_mode", 0) != 0;
        int c = x.size(1);
        double[] scale = channelParam(call, 1, "scale", c);
        double[] bias = channelParam(call, 2, "B", c);
        double[] mean = channelParam(call, 3, "input_mean", c);
        double[] var = channelParam(call, 4, "input_var", c);
        ElemType type = call.type(0);
        if (!training) return List.of(Value.of(affine(x, scale, bias, mean, var, eps), type));

        double[] batchMean, batchVar;
        try (Scope s = Scope.open()) {
            int[] axes = allBut(x.dim(), 1);
            Tensor xf = x.dtype() == DType.F64 ? x : x.to(DType.F32);
            batchMean = xf.mean(axes, false).toDoubleArray();
            batchVar = xf.var(axes, false, 0).toDoubleArray();
        }
        double momentum = call.attrFloat("momentum", 0.9f);
        List<Value> out = new ArrayList<>();
        out.add(Value.of(affine(x, scale, bias, batchMean, batchVar, eps), type));
        out.add(NormArrays.value(blend(mean, batchMean, momentum), call.type(3), c));
        out.add(NormArrays.value(blend(var, batchVar, momentum), call.type(4), c));
        return out;
    }

    private static double[] channelParam(OpCall call, int i, String name, int c) {
        Tensor t = call.in(i);
        if (t.numel() != c)
            throw call.error(name + " must have " + c + " values (channels of X), got shape " + Arrays.toString(t.shape()));
        return t.toDoubleArray();
    }

    private static double[] blend(double[] running, double[] current, double momentum) {
        double[] r = new double[running.length];
        for (int i = 0; i < r.length; i++) r[i] = running[i] * momentum + current[i] * (1 - momentum);
        return r;
    }

    /** y = x * a + b with a = scale / sqrt(var + eps), b = bias - mean * a, per channel (axis 1). */
    private static Tensor affine(Tensor x, double[] scale, double[] bias, double[] mean, double[] var, double eps) {
        int c = scale.length;
        double[] a = new double[c], b = new double[c];
        for (int i = 0; i < c; i++) {
            a[i] = scale[i] / Math.sqrt(var[i] + eps);
            b[i] = bias[i] - mean[i] * a[i];
        }
        return channelAffine(x, a, b);
    }

    /** x * a[c] + b[c] along axis 1, in x's dtype. */
    static Tensor channelAffine(Tensor x, double[] a, double[] b) {
        ElemType t = ElemType.of(x.dtype());
        int[] coef = new int[x.dim()];
        Arrays.fill(coef, 1);
        coef[1] = a.length;
        try (Scope s = Scope.open()) {
            Tensor at = NormArrays.tensor(a, t, coef), bt = NormArrays.tensor(b, t, coef);
            return s.keep(x.mul(at).add(bt));
        }
    }

    static int[] allBut(int rank, int keep) {
        int[] axes = new int[rank - 1];
        for (int i = 0, j = 0; i < rank; i++) if (i != keep) axes[j++] = i;
        return axes;
    }

    static int[] range(int from, int to) {
        int[] r = new int[to - from];
        for (int i = 0; i < r.length; i++) r[i] = from + i;
        return r;
    }

    // ------------------------------------------------------------------ InstanceNormalization

    private static List<Value> instanceNorm(OpCall call) {
        Tensor x = call.in(0);
        if (x.dim() < 3) throw call.error("input must have rank >= 3 (N, C, D1, ...), got shape " + Arrays.toString(x.shape()));
        double eps = call.attrFloat("epsilon", 1e-5f);
        int c = x.size(1);
        double[] scale = channelParam(call, 1, "scale", c);
        double[] bias = channelParam(call, 2, "B", c);
        try (Scope s = Scope.open()) {
            int[] axes = range(2, x.dim());
            Tensor mean = x.mean(axes, true);
            Tensor inv = x.var(axes, true, 0).add(eps).rsqrt();
            Tensor norm = x.sub(mean).mul(inv);
            Tensor y = channelAffine(norm, scale, bias);
            return List.of(Value.of(s.keep(castTo(y, x.dtype())), call.type(0)));
        }
    }

    private static Tensor castTo(Tensor t, DType d) {
        return t.dtype() == d ? t : t.to(d);
    }

    // ------------------------------------------------------------------ LayerNormalization

    private static List<Value> layerNorm(OpCall call) {
        Tensor x = call.in(0);
        int rank = x.dim();
        long axisAttr = call.attrInt("axis", -1);
        if (axisAttr < -rank || axisAttr >= rank) throw call.error("axis " + axisAttr + " out of range for rank " + rank);
        int axis = (int) (axisAttr < 0 ? axisAttr + rank : axisAttr);
        double eps = call.attrFloat("epsilon", 1e-5f);
        int[] normShape = Arrays.copyOfRange(x.shape(), axis, rank);
        List<Value> out = new ArrayList<>();
        try (Scope s = Scope.open()) {
            Tensor w = fitTo(call, call.in(1), normShape, "Scale");
            Tensor b = call.has(2) ? fitTo(call, call.in(2), normShape, "B") : null;
            Tensor y = castTo(x.layerNorm(normShape, w, b, eps), x.dtype());
            out.add(Value.of(s.keep(y), call.type(0)));
            if (call.wantsOutput(1) || call.wantsOutput(2)) addStats(call, x, axis, eps, s, out);
        }
        return out;
    }

    /** Mean and InvStdDev outputs, shape X.shape[:axis] + [1] * (rank - axis), in the stash type. */
    private static void addStats(OpCall call, Tensor x, int axis, double eps, Scope s, List<Value> out) {
        ElemType stash = ElemType.fromCode((int) call.attrInt("stash_type", 1));
        DType d = stash == ElemType.DOUBLE ? DType.F64 : DType.F32;
        Tensor xs = castTo(x, d);
        int[] axes = range(axis, x.dim());
        Tensor mean = xs.mean(axes, true);
        Tensor inv = xs.var(axes, true, 0).add(eps).rsqrt();
        ElemType outType = ElemType.of(d);
        out.add(Value.of(s.keep(mean), outType));
        out.add(Value.of(s.keep(inv), outType));
    }

    /** A scale/bias broadcastable to the normalized shape, as a contiguous tensor of exactly that shape. */
    private static Tensor fitTo(OpCall call, Tensor p, int[] shape, String name) {
        if (Arrays.equals(p.shape(), shape)) return p;
        if (p.dim() > shape.length)
            throw call.error(name + " shape " + Arrays.toString(p.shape()) + " does not broadcast to normalized shape " + Arrays.toString(shape));
        int[] padded = new int[shape.length];
        Arrays.fill(padded, 1);
        System.arraycopy(p.shape(), 0, padded, shape.length - p.dim(), p.dim());
        for (int i = 0; i < shape.length; i++)
            if (padded[i] != 1 && padded[i] != shape[i])
                throw call.error(name + " shape " + Arrays.toString(p.shape()) + " does not broadcast to normalized shape " + Arrays.toString(shape));
        return p.reshape(padded).expand(shape).contiguous();
    }

    // ------------------------------------------------------------------ MeanVarianceNormalization

    private static List<Value> meanVarianceNorm(OpCall call) {
        Tensor x = call.in(0);
        int[] axes = call.attrIntArray("axes", new int[]{0, 2, 3});
        for (int i = 0; i < axes.length; i++) if (axes[i] < 0) axes[i] += x.dim();
        try (Scope s = Scope.open()) {
            Tensor mean = x.mean(axes, true);
            Tensor std = x.var(axes, true, 0).sqrt().add(1e-9);
            Tensor y = castTo(x.sub(mean).div(std), x.dtype());
            return List.of(Value.of(s.keep(y), call.type(0)));
        }
    }
}
