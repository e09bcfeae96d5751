package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.Reductions;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/**
 * ONNX ops of the ReduceOps family (see {@link OpFamilies}): the Reduce* ops here; ArgMax/ArgMin,
 * Softmax/LogSoftmax/Hardmax and CumSum in {@link ReduceAxisOps}; MatMul, Gemm and Det in
 * {@link ReduceMatOps}; Einsum in {@link ReduceEinsum}.
 *
 * <p>Reductions run on the engine's reduce kernels ({@link Reductions}); L1, L2, SumSquare,
 * LogSum are formulas over them. Axes come from the {@code axes} attribute, or from the optional
 * second input for ReduceSum from opset 13 and the others from opset 18. Empty axes reduce
 * everything unless {@code noop_with_empty_axes} is set; reducing a zero-size dim gives the
 * op's identity (0 for sums, 1 for products, -inf / +inf for max / min and the log-sums).
 * Integer inputs give integer outputs of their own type.
 */
final class ReduceOps {
    private ReduceOps() {}

    enum Kind { SUM, MEAN, MAX, MIN, PROD, L1, L2, LOG_SUM, LOG_SUM_EXP, SUM_SQUARE }

    static void register(OpRegistry r) {
        r.register("ReduceSum", c -> reduce(c, Kind.SUM));
        r.register("ReduceMean", c -> reduce(c, Kind.MEAN));
        r.register("ReduceMax", c -> reduce(c, Kind.MAX));
        r.register("ReduceMin", c -> reduce(c, Kind.MIN));
        r.register("ReduceProd", c -> reduce(c, Kind.PROD));
        r.register("ReduceL1", c -> reduce(c, Kind.L1));
        r.register("ReduceL2", c -> reduce(c, Kind.L2));
        r.register("ReduceLogSum", c -> reduce(c, Kind.LOG_SUM));
        r.register("ReduceLogSumExp", c -> reduce(c, Kind.LOG_SUM_EXP));
        r.register("ReduceSumSquare", c -> reduce(c, Kind.SUM_SQUARE));
        ReduceAxisOps.register(r);
        ReduceMatOps.register(r);
        r.register("Einsum", ReduceEinsum::run);
    }

    private static List<Value> reduce(OpCall c, Kind kind) {
        Tensor x = c.in(0);
        ElemType t = c.type(0);
        boolean keep = c.attrInt("keepdims", 1) != 0;
        boolean axesInput = c.node().opType().equals("ReduceSum") ? c.opset() >= 13 : c.opset() >= 18;
        long[] given = axesInput ? (c.has(1) ? c.longs(1) : null) : c.attrInts("axes", null);
        if ((given == null || given.length == 0) && c.attrInt("noop_with_empty_axes", 0) != 0)
            return MathOps.one(x.clone(), t);
        int[] axes = normalize(c, given, x.dim());
        int[] outShape = outShape(x.shape(), axes, keep);
        for (int a : axes) {
            if (x.shape()[a] == 0) return MathOps.one(Tensor.full(identity(kind), t.storage(), outShape), t);
        }
        try (Scope s = Scope.open()) {
            Tensor r = engineReduce(kind, x, axes);
            Tensor out = r.dtype() == t.storage() && !t.isUnsigned() && t != ElemType.INT16
                    ? r : MathKernels.cast(r, ElemType.of(r.dtype()), t);
            return MathOps.one(s.keep(out.reshape(outShape)), t);
        }
    }

    /** The reduction over axes, kept dims (engine dtypes: sums of ints are int64, logs float). */
    private static Tensor engineReduce(Kind kind, Tensor x, int[] axes) {
        if (axes.length == 0 && x.dim() > 0) return unreduced(kind, x);
        return switch (kind) {
            case SUM -> Reductions.reduce(ReduceOp.SUM, x, axes, true, 0);
            case MEAN -> Reductions.reduce(ReduceOp.MEAN, x, axes, true, 0);
            case MAX -> Reductions.reduce(ReduceOp.MAX, x, axes, true, 0);
            case MIN -> Reductions.reduce(ReduceOp.MIN, x, axes, true, 0);
            case PROD -> Reductions.reduce(ReduceOp.PROD, x, axes, true, 0);
            case L1 -> Reductions.reduce(ReduceOp.SUM, x.abs(), axes, true, 0);
            case L2 -> Reductions.reduce(ReduceOp.SUM, x.square(), axes, true, 0).sqrt();
            case LOG_SUM -> Reductions.reduce(ReduceOp.SUM, x, axes, true, 0).log();
            case LOG_SUM_EXP -> Reductions.reduce(ReduceOp.LOGSUMEXP, x, axes, true, 0);
            case SUM_SQUARE -> Reductions.reduce(ReduceOp.SUM, x.square(), axes, true, 0);
        };
    }

    /** The op over single elements (a 0-d input, or no axes with noop off on a scalar). */
    private static Tensor unreduced(Kind kind, Tensor x) {
        return switch (kind) {
            case SUM, MEAN, MAX, MIN, PROD, LOG_SUM_EXP -> x.clone();
            case L1 -> x.abs();
            case L2 -> x.square().sqrt();
            case LOG_SUM -> x.log();
            case SUM_SQUARE -> x.square();
        };
    }

    static double identity(Kind kind) {
        return switch (kind) {
            case PROD -> 1;
            case MAX, LOG_SUM, LOG_SUM_EXP -> Double.NEGATIVE_INFINITY;
            case MIN -> Double.POSITIVE_INFINITY;
            default -> 0;
        };
    }

    /** Sorted distinct non-negative axes; null or empty means all axes. */
    static int[] normalize(OpCall c, long[] axes, int rank) {
        if (axes == null || axes.length == 0) {
            int[] all = new int[rank];
            for (int i = 0; i < rank; i++) all[i] = i;
            return all;
        }
        TreeSet<Integer> set = new TreeSet<>();
        for (long a : axes) {
            long n = a < 0 ? a + rank : a;
            if (n < 0 || n >= Math.max(rank, 1)) throw c.error("axis " + a + " out of range for rank " + rank);
            if (rank > 0) set.add((int) n);
        }
        return set.stream().mapToInt(Integer::intValue).toArray();
    }

    static int[] outShape(int[] shape, int[] axes, boolean keep) {
        int[] out = new int[keep ? shape.length : shape.length - axes.length];
        for (int i = 0, j = 0; i < shape.length; i++) {
            boolean reduced = Arrays.binarySearch(axes, i) >= 0;
            if (!reduced) out[j++] = shape[i];
            else if (keep) out[j++] = 1;
        }
        return out;
    }

    /** Axis attribute normalized against rank (error names op and shape). */
    static int axis(OpCall c, long axis, Tensor x) {
        int rank = x.dim();
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= Math.max(rank, 1))
            throw c.error("axis " + axis + " out of range for input shape " + Shape.str(x.shape()));
        return (int) a;
    }

    /** The compute dtype of float-typed ONNX input (half types compute in F32). */
    static DType floatCompute(ElemType t) { return t == ElemType.DOUBLE ? DType.F64 : DType.F32; }
}
