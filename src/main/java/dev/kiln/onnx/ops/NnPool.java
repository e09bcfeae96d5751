package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Conv;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.ops.ReduceOp;
import dev.kiln.ops.Reductions;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * ONNX MaxPool, AveragePool, LpPool and the Global pools. 1-d and 2-d max/average pooling of
 * float types run on the engine's pool2d (1-d as H=1) whenever its geometry matches ONNX's:
 * pads it cannot take (asymmetric, or over half the kernel) become an explicit -inf/zero pad copy,
 * and average pooling that excludes such pads divides by a pooled mask of ones. Dilated, 3-d,
 * integer and Lp pooling use {@link NnPoolLoops}.
 */
final class NnPool {
    private NnPool() {}

    static List<Value> maxPool(OpCall call) { return pool(call, NnPoolLoops.Kind.MAX); }

    static List<Value> averagePool(OpCall call) { return pool(call, NnPoolLoops.Kind.AVG); }

    static List<Value> lpPool(OpCall call) { return pool(call, NnPoolLoops.Kind.LP); }

    private static List<Value> pool(OpCall call, NnPoolLoops.Kind kind) {
        Tensor x = call.in(0);
        ElemType type = call.type(0);
        int[] xs = x.shape();
        if (xs.length < 3) throw call.error("input " + Shape.str(xs) + " must be [N, C, spatial...]");
        int r = xs.length - 2;
        int[] kernel = call.attrIntArray("kernel_shape", null);
        if (kernel == null || kernel.length != r)
            throw call.error("kernel_shape " + Arrays.toString(kernel) + " must have one value per spatial axis of " + Shape.str(xs));
        boolean ceil = call.attrInt("ceil_mode", 0) != 0;
        NnWindow win = NnWindow.of(call, NnWindow.spatial(xs), kernel, ceil);
        boolean includePad = call.attrInt("count_include_pad", 0) != 0;
        int storageOrder = (int) call.attrInt("storage_order", 0);
        boolean wantIdx = kind == NnPoolLoops.Kind.MAX && call.wantsOutput(1);
        if (kind != NnPoolLoops.Kind.LP && r <= 2 && NnData.isFloat(x.dtype()) && win.unitDilations()) {
            List<Value> fast = enginePool(x, type, win, kind, ceil, includePad, wantIdx, storageOrder);
            if (fast != null) return fast;
        }
        if (r > 3) throw call.error("pooling over " + r + " spatial axes is not supported (max 3)");
        double p = kind == NnPoolLoops.Kind.LP ? call.attrInt("p", 2) : 0;
        NnPoolLoops loops = new NnPoolLoops(win.lift3(), kind, includePad, p);
        int planes = xs[0] * xs[1];
        double[][] res = loops.run(x.toDoubleArray(), planes, wantIdx, storageOrder == 1);
        int[] ys = outShape(xs, win);
        List<Value> out = new ArrayList<>(NnData.out(res[0], type, ys));
        if (wantIdx) out.add(Value.of(longs(res[1], ys)));
        return out;
    }

    private static int[] outShape(int[] xs, NnWindow win) {
        int[] ys = xs.clone();
        System.arraycopy(win.out(), 0, ys, 2, win.rank());
        return ys;
    }

    private static Tensor longs(double[] v, int[] shape) {
        long[] l = new long[v.length];
        for (int i = 0; i < v.length; i++) l[i] = (long) v[i];
        return Tensor.fromArray(l, shape);
    }

    /** The pool on the engine, or null when its output geometry would differ from ONNX's. */
    private static List<Value> enginePool(Tensor x, ElemType type, NnWindow win, NnPoolLoops.Kind kind, boolean ceil,
                                          boolean includePad, boolean wantIdx, int storageOrder) {
        boolean oneD = win.rank() == 1;
        int[] k = plane(win.kernel(), 1), s = plane(win.strides(), 1);
        int[] pb = plane(win.padBegin(), 0), pe = plane(win.padEnd(), 0);
        boolean direct = Arrays.equals(pb, pe) && pb[0] <= k[0] / 2 && pb[1] <= k[1] / 2;
        // padding only at the end (TensorFlow's SAME with an even input and odd kernel, ONNX SAME_UPPER):
        // max pooling, and average pooling that excludes the padding, see exactly ceil mode's clipped
        // last windows, so no padded copy is needed
        if (!direct && pb[0] == 0 && pb[1] == 0 && pe[0] < k[0] && pe[1] < k[1] && (kind == NnPoolLoops.Kind.MAX || !includePad)) {
            List<Value> clipped = ceilPool(x, type, k, s, kind, wantIdx, storageOrder, plane(win.out(), 1), oneD);
            if (clipped != null) return clipped;
        }
        if (!direct && wantIdx) return null;
        int[] pads = direct ? pb : new int[2];
        Pool2dParams p = new Pool2dParams(k[0], k[1], s[0], s[1], pads[0], pads[1], ceil, includePad);
        Tensor x4 = oneD ? x.unsqueeze(2) : x;
        try {
            Tensor xp = direct ? x4 : NnData.pad(x4, pb, pe, kind == NnPoolLoops.Kind.MAX ? Double.NEGATIVE_INFINITY : 0);
            try {
                int[] inPlane = {xp.size(2), xp.size(3)};
                int oh = Conv.poolOutSize(inPlane[0], k[0], s[0], pads[0], ceil);
                int ow = Conv.poolOutSize(inPlane[1], k[1], s[1], pads[1], ceil);
                if (!Arrays.equals(new int[]{oh, ow}, plane(win.out(), 1))) return null;
                if (kind == NnPoolLoops.Kind.MAX) return maxOut(x, xp, p, type, wantIdx, storageOrder, oneD);
                Tensor y = direct || includePad ? Conv.pool2d(PoolOp.AVG, xp, p) : maskedAvg(x4, xp, pb, pe, p);
                return List.of(Value.of(finish(y, x.dtype(), oneD), type));
            } finally {
                if (xp != x4) xp.close();
            }
        } finally {
            if (x4 != x) x4.close();
        }
    }

    /** Unpadded ceil-mode pooling when it yields the wanted output size (else null). */
    private static List<Value> ceilPool(Tensor x, ElemType type, int[] k, int[] s, NnPoolLoops.Kind kind, boolean wantIdx,
                                        int storageOrder, int[] out, boolean oneD) {
        Tensor x4 = oneD ? x.unsqueeze(2) : x;
        try {
            if (Conv.poolOutSize(x4.size(2), k[0], s[0], 0, true) != out[0] || Conv.poolOutSize(x4.size(3), k[1], s[1], 0, true) != out[1])
                return null;
            Pool2dParams p = new Pool2dParams(k[0], k[1], s[0], s[1], 0, 0, true, false);
            if (kind == NnPoolLoops.Kind.MAX) return maxOut(x, x4, p, type, wantIdx, storageOrder, oneD);
            return List.of(Value.of(finish(Conv.pool2d(PoolOp.AVG, x4, p), x.dtype(), oneD), type));
        } finally {
            if (x4 != x) x4.close();
        }
    }

    private static List<Value> maxOut(Tensor x, Tensor xp, Pool2dParams p, ElemType type, boolean wantIdx,
                                      int storageOrder, boolean oneD) {
        if (!wantIdx) return List.of(Value.of(finish(Conv.pool2d(PoolOp.MAX, xp, p), x.dtype(), oneD), type));
        Tensor[] r = Conv.maxPool2dWithIndices(xp, p);
        Tensor idx = onnxIndices(r[1], xp.shape(), storageOrder);
        r[1].close();
        return List.of(Value.of(finish(r[0], x.dtype(), oneD), type), Value.of(finish(idx, DType.I64, oneD)));
    }

    /** Plane-local h*W+w indices -> ONNX's flat index into the whole input (column-major plane for storage_order 1). */
    private static Tensor onnxIndices(Tensor planeIdx, int[] xs, int storageOrder) {
        int[] ys = planeIdx.shape();
        long[] v = planeIdx.toLongArray();
        int h = xs[2], w = xs[3], per = ys[2] * ys[3];
        for (int i = 0; i < v.length; i++) {
            long base = (long) (i / per) * h * w, at = v[i];
            v[i] = base + (storageOrder == 1 ? (at % w) * h + at / w : at);
        }
        return Tensor.fromArray(v, ys);
    }

    /** Average that excludes explicit pads: avg(x padded with 0) / avg(ones padded with 0). */
    private static Tensor maskedAvg(Tensor x4, Tensor xp, int[] pb, int[] pe, Pool2dParams p) {
        Pool2dParams inc = new Pool2dParams(p.kernelH(), p.kernelW(), p.strideH(), p.strideW(), 0, 0, p.ceilMode(), true);
        int[] ms = x4.shape();
        ms[0] = 1;
        ms[1] = 1;
        DType t = xp.dtype() == DType.F64 ? DType.F64 : DType.F32;
        try (Tensor ones = Tensor.ones(t, ms); Tensor mask = NnData.pad(ones, pb, pe, 0);
             Tensor sum = Conv.pool2d(PoolOp.AVG, xp, inc); Tensor cnt = Conv.pool2d(PoolOp.AVG, mask, inc)) {
            return sum.div(cnt);
        }
    }

    /** Drops the H=1 axis of a 1-d pool and casts back to the input dtype. */
    private static Tensor finish(Tensor y, DType dtype, boolean oneD) {
        if (oneD) {
            Tensor s = y.squeeze(2);
            y.close();
            y = s;
        }
        return NnData.castTo(y, dtype);
    }

    private static int[] plane(int[] v, int fill) { return v.length == 2 ? v : new int[]{fill, v[0]}; }

    // ------------------------------------------------------------------ global pools

    static List<Value> globalAverage(OpCall call) { return global(call, ReduceOp.MEAN); }

    static List<Value> globalMax(OpCall call) { return global(call, ReduceOp.MAX); }

    private static List<Value> global(OpCall call, ReduceOp op) {
        Tensor x = call.in(0);
        if (x.dim() < 3) throw call.error("input " + Shape.str(x.shape()) + " must be [N, C, spatial...]");
        int[] axes = new int[x.dim() - 2];
        for (int i = 0; i < axes.length; i++) axes[i] = i + 2;
        Tensor y = Reductions.reduce(op, x, axes, true, 0);
        return List.of(Value.of(NnData.castTo(y, x.dtype()), call.type(0)));
    }

    /** GlobalLpPool: (sum |x|^p)^(1/p) over the spatial axes. */
    static List<Value> globalLp(OpCall call) {
        Tensor x = call.in(0);
        int[] xs = x.shape();
        if (xs.length < 3) throw call.error("input " + Shape.str(xs) + " must be [N, C, spatial...]");
        double p = call.attrInt("p", 2);
        double[] v = x.toDoubleArray();
        int plane = NnData.prod(xs, 2), planes = xs[0] * xs[1];
        double[] y = new double[planes];
        for (int i = 0; i < planes; i++) {
            double s = 0;
            for (int j = 0; j < plane; j++) s += Math.pow(Math.abs(v[i * plane + j]), p);
            y[i] = Math.pow(s, 1 / p);
        }
        int[] ys = xs.clone();
        for (int i = 2; i < ys.length; i++) ys[i] = 1;
        return NnData.out(y, call.type(0), ys);
    }
}
