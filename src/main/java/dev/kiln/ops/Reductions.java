package dev.kiln.ops;

import dev.kiln.autograd.GradMode;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.TreeSet;

/** Front end of reductions, softmax and layer norm: axis handling, dtypes, output shapes. */
public final class Reductions {
    private Reductions() {}

    /** Sorted distinct axes; null or empty means all axes. */
    static int[] normalizeAxes(String op, int[] axes, int rank) {
        if (rank == 0 && axes != null) { // a 0-d tensor takes dim 0 or -1, like PyTorch, and reduces nothing
            for (int a : axes) axis0d(op, a);
            return new int[0];
        }
        if (axes == null || axes.length == 0) {
            int[] all = new int[rank];
            for (int i = 0; i < rank; i++) all[i] = i;
            return all;
        }
        TreeSet<Integer> set = new TreeSet<>();
        for (int a : axes) {
            if (!set.add(Shape.axis(op, a, rank)))
                throw new IllegalArgumentException(op + ": repeated axis in " + Arrays.toString(axes));
        }
        return set.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The axis of a 0-d tensor: 0 or -1 (PyTorch's wrapping), else an error naming the op. */
    private static int axis0d(String op, int axis) {
        if (axis != 0 && axis != -1) throw new IllegalArgumentException(op + ": axis " + axis + " out of range for a 0-d tensor");
        return 0;
    }

    static int[] keepdimShape(int[] shape, int[] axes) {
        int[] out = shape.clone();
        for (int a : axes) out[a] = 1;
        return out;
    }

    static int[] dropAxes(int[] shape, int[] axes) {
        int[] out = new int[shape.length - axes.length];
        for (int i = 0, j = 0, k = 0; i < shape.length; i++) {
            if (k < axes.length && axes[k] == i) { k++; continue; }
            out[j++] = shape[i];
        }
        return out;
    }

    public static Tensor reduce(ReduceOp op, Tensor x, int[] axes, boolean keepdim, double param) {
        if (!Tensor.needsGrad(x)) return reduceForward(op, x, axes, keepdim, param);
        int[] ax = normalizeAxes(op.name().toLowerCase(), axes, x.dim());
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) { out = reduceForward(op, x, ax, keepdim, param); }
        return out.setGradFn(ReductionsGrad.reduce(op, x, ax, keepdimShape(x.shape(), ax), out.detach(), param));
    }

    private static Tensor reduceForward(ReduceOp op, Tensor x, int[] axes, boolean keepdim, double param) {
        String name = op.name().toLowerCase();
        int[] ax = normalizeAxes(name, axes, x.dim());
        for (int a : ax)
            if (x.shape()[a] == 0 && (op == ReduceOp.MAX || op == ReduceOp.MIN))
                throw new IllegalArgumentException(name + ": cannot reduce an empty dimension " + a + " of shape " + Shape.str(x.shape()));
        DType in = x.dtype();
        DType compute = switch (op) {
            case SUM, PROD -> in.isFloating() ? (in == DType.F64 ? DType.F64 : DType.F32) : DType.I64;
            case MAX, MIN -> in == DType.BF16 || in == DType.F16 ? DType.F32 : in;
            default -> in == DType.F64 ? DType.F64 : DType.F32;
        };
        Tensor xc = in == compute ? x : x.to(compute);
        Tensor out = Tensor.empty(x.backend(), compute, keepdimShape(x.shape(), ax));
        x.backend().reduce(op, xc, ax, out, param);
        if (xc != x) xc.close();
        DType want = (in == DType.BF16 || in == DType.F16) ? in : compute;
        if (want != compute) {
            Tensor r = out.to(want);
            out.close();
            out = r;
        }
        if (keepdim) return out;
        Tensor v = out.reshape(dropAxes(x.shape(), ax));
        out.close();
        return v;
    }

    public static Tensor argReduce(ReduceOp op, Tensor x, int axis, boolean keepdim) {
        String name = op.name().toLowerCase();
        int a = x.dim() == 0 ? axis0d(name, axis) : Shape.axis(name, axis, x.dim());
        if (x.dim() > 0 && x.shape()[a] == 0)
            throw new IllegalArgumentException(name + ": cannot reduce an empty dimension " + a + " of shape " + Shape.str(x.shape()));
        Tensor xc = x.dtype() == DType.BF16 || x.dtype() == DType.F16 || x.dtype() == DType.BOOL ? x.to(DType.F32) : x;
        int[] ax = x.dim() == 0 ? new int[0] : new int[]{a};
        Tensor out = Tensor.empty(x.backend(), DType.I64, keepdimShape(x.shape(), ax));
        x.backend().reduce(op, xc, ax, out, 0);
        if (xc != x) xc.close();
        if (keepdim) return out;
        Tensor v = out.reshape(dropAxes(x.shape(), ax));
        out.close();
        return v;
    }

    public static Tensor softmax(Tensor x, int axis, boolean log) {
        if (!Tensor.needsGrad(x)) return softmaxForward(x, axis, log);
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) { out = softmaxForward(x, axis, log); }
        int a = x.dim() == 0 ? 0 : Shape.axis("softmax", axis, x.dim());
        return out.setGradFn(ReductionsGrad.softmax(x, out.detach(), a, log));
    }

    private static Tensor softmaxForward(Tensor x, int axis, boolean log) {
        String name = log ? "log_softmax" : "softmax";
        int a = x.dim() == 0 ? axis0d(name, axis) : Shape.axis(name, axis, x.dim());
        DType t = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
        Tensor xc = x.dtype() == t ? x : x.to(t);
        Tensor out = Tensor.uninitialized(x.backend(), t, x.shape()); // every row is written
        x.backend().softmax(xc, a, log, out);
        if (xc != x) xc.close();
        return out;
    }

    public static Tensor layerNorm(Tensor x, int[] normalizedShape, Tensor weight, Tensor bias, double eps) {
        if (!Tensor.needsGrad(x, weight, bias)) return layerNormForward(x, normalizedShape, weight, bias, eps);
        Tensor out;
        try (GradMode.Guard g = GradMode.noGrad()) { out = layerNormForward(x, normalizedShape, weight, bias, eps); }
        return out.setGradFn(ReductionsGrad.layerNorm(x, weight, bias, normalizedShape.length, eps));
    }

    private static Tensor layerNormForward(Tensor x, int[] normalizedShape, Tensor weight, Tensor bias, double eps) {
        int[] s = x.shape();
        int k = normalizedShape.length;
        if (k == 0 || k > s.length || !Arrays.equals(Arrays.copyOfRange(s, s.length - k, s.length), normalizedShape))
            throw new IllegalArgumentException("layer_norm: normalized shape " + Shape.str(normalizedShape)
                    + " does not match the trailing dims of input shape " + Shape.str(s));
        if (weight != null && !Arrays.equals(weight.shape(), normalizedShape))
            throw new IllegalArgumentException("layer_norm: weight shape " + Shape.str(weight.shape()) + " != " + Shape.str(normalizedShape));
        if (bias != null && !Arrays.equals(bias.shape(), normalizedShape))
            throw new IllegalArgumentException("layer_norm: bias shape " + Shape.str(bias.shape()) + " != " + Shape.str(normalizedShape));
        DType t = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
        Tensor xc = x.dtype() == t ? x : x.to(t);
        Tensor wc = weight == null || weight.dtype() == t ? weight : weight.to(t);
        Tensor bc = bias == null || bias.dtype() == t ? bias : bias.to(t);
        Tensor out = Tensor.uninitialized(x.backend(), t, s); // every row is written
        x.backend().layerNorm(xc, wc, bc, k, eps, out);
        if (xc != x) xc.close();
        if (wc != weight) wc.close();
        if (bc != bias) bc.close();
        return out;
    }
}
