package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Conv;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * ONNX Conv. 1-d and 2-d convolutions of float types run on the engine's conv2d (1-d as H=1;
 * asymmetric pads become symmetric ones plus an explicit zero-pad copy of the difference);
 * 3-d ones are a sum of conv2d calls ({@link NnConv3d}); a direct loop in double remains for
 * the rest (non-float types).
 * <pre>
 * x [N, C, spatial...], W [M, C/group, k...], B [M] (optional) -> y [N, M, out...]
 * </pre>
 */
final class NnConv {
    private NnConv() {}

    static List<Value> conv(OpCall call) { return conv(call, false); }

    /** Conv then Relu (GraphOptimizer's fused node): on the engine the ReLU is applied as the conv stores. */
    static List<Value> convRelu(OpCall call) { return conv(call, true); }

    /**
     * GraphOptimizer's "ConvAdd[+Relu]" node, inputs (x, W, B or "", r): act(Conv(x, W, B) + r). A 2-d
     * float conv whose output has r's shape and dtype adds r (and applies the ReLU) as it stores;
     * anything else runs as Conv, then ONNX Add (broadcasting), then Relu.
     */
    static List<Value> convAdd(OpCall call, boolean relu) {
        Tensor x = call.in(0), w = call.in(1), b = call.inOrNull(2), r = call.in(3);
        int group = (int) call.attrInt("group", 1);
        checkShapes(call, x.shape(), w.shape(), b == null ? null : b.shape(), group);
        NnWindow win = NnWindow.of(call, NnWindow.spatial(x.shape()), NnWindow.spatial(w.shape()), false);
        int[] outShape = new int[x.dim()];
        outShape[0] = x.size(0);
        outShape[1] = w.size(0);
        System.arraycopy(win.out(), 0, outShape, 2, win.rank());
        checkKernelShape(call, w.shape());
        if (win.rank() == 2 && NnData.isFloat(x.dtype()) && r.dtype() == x.dtype() && Arrays.equals(r.shape(), outShape))
            return List.of(Value.of(engineConv(x, w, b, win, group, r, relu), call.type(0)));
        Tensor sum;
        try (Tensor y = conv(call, false).get(0).tensor()) { sum = Elementwise.binary(BinaryOp.ADD, y, r); }
        return List.of(Value.of(reluIf(sum, relu), call.type(0)));
    }

    private static List<Value> conv(OpCall call, boolean relu) {
        Tensor x = call.in(0), w = call.in(1), b = call.inOrNull(2);
        ElemType type = call.type(0);
        int[] xs = x.shape(), ws = w.shape();
        int group = (int) call.attrInt("group", 1);
        checkShapes(call, xs, ws, b == null ? null : b.shape(), group);
        int[] kernel = NnWindow.spatial(ws);
        checkKernelShape(call, ws);
        NnWindow win = NnWindow.of(call, NnWindow.spatial(xs), kernel, false);
        if (win.rank() <= 2 && NnData.isFloat(x.dtype()))
            return List.of(Value.of(engineConv(x, w, b, win, group, relu), type));
        if (win.rank() == 3 && NnData.isFloat(x.dtype()))
            return List.of(Value.of(reluIf(NnConv3d.conv3d(x, w, b, win, group), relu), type));
        if (win.rank() > 3) throw call.error("Conv over " + win.rank() + " spatial axes is not supported (max 3)");
        double[] y = direct(x.toDoubleArray(), xs, w.toDoubleArray(), ws[0], group,
                b == null ? null : b.toDoubleArray(), win.lift3());
        int[] ys = new int[xs.length];
        ys[0] = xs[0];
        ys[1] = ws[0];
        System.arraycopy(win.out(), 0, ys, 2, win.rank());
        if (relu) for (int i = 0; i < y.length; i++) y[i] = y[i] > 0 || Double.isNaN(y[i]) ? y[i] : 0;
        return NnData.out(y, type, ys);
    }

    /** relu(t) (closing t) when relu, else t. */
    private static Tensor reluIf(Tensor t, boolean relu) {
        if (!relu) return t;
        try (t) { return t.relu(); }
    }

    private static void checkKernelShape(OpCall call, int[] ws) {
        int[] ks = call.attrIntArray("kernel_shape", null);
        if (ks != null && !Arrays.equals(ks, NnWindow.spatial(ws)))
            throw call.error("kernel_shape " + Arrays.toString(ks) + " does not match weight " + Shape.str(ws));
    }

    private static void checkShapes(OpCall call, int[] xs, int[] ws, int[] bs, int group) {
        if (xs.length < 3 || ws.length != xs.length)
            throw call.error("input " + Shape.str(xs) + " and weight " + Shape.str(ws)
                    + " must both be [N, C, spatial...] / [M, C/group, k...] of the same rank >= 3");
        if (group < 1 || xs[1] != ws[1] * group || ws[0] % group != 0)
            throw call.error("input " + Shape.str(xs) + " and weight " + Shape.str(ws) + " do not agree with group=" + group);
        if (bs != null && (bs.length != 1 || bs[0] != ws[0]))
            throw call.error("bias " + Shape.str(bs) + " must be [" + ws[0] + "]");
    }

    /** 1-d/2-d conv on the engine; the result has x's dtype. */
    static Tensor engineConv(Tensor x, Tensor w, Tensor b, NnWindow win, int group) {
        return engineConv(x, w, b, win, group, false);
    }

    /** engineConv followed by ReLU when relu (fused into the conv kernel's stores where it can be). */
    static Tensor engineConv(Tensor x, Tensor w, Tensor b, NnWindow win, int group, boolean relu) {
        return engineConv(x, w, b, win, group, null, relu);
    }

    /** engineConv, then + residual (null: none; 2-d only, the output's shape) and ReLU, applied as the conv stores. */
    static Tensor engineConv(Tensor x, Tensor w, Tensor b, NnWindow win, int group, Tensor residual, boolean relu) {
        boolean oneD = win.rank() == 1;
        Tensor x4 = oneD ? x.unsqueeze(2) : x, w4 = oneD ? w.unsqueeze(2) : w;
        int[] pb = plane(win.padBegin(), 0), pe = plane(win.padEnd(), 0);
        int[] st = plane(win.strides(), 1), dil = plane(win.dilations(), 1);
        int symH = Math.min(pb[0], pe[0]), symW = Math.min(pb[1], pe[1]);
        int[] extraB = {pb[0] - symH, pb[1] - symW}, extraE = {pe[0] - symH, pe[1] - symW};
        boolean padCopy = !NnData.allZero(extraB) || !NnData.allZero(extraE);
        Tensor xp = padCopy ? NnData.pad(x4, extraB, extraE, 0) : x4;
        Tensor y;
        try {
            Conv2dParams cp = new Conv2dParams(st[0], st[1], symH, symW, dil[0], dil[1], group);
            y = relu || residual != null ? Conv.conv2dAdd(xp, w4, b, cp, residual, relu) : Conv.conv2d(xp, w4, b, cp);
        } finally {
            if (xp != x4) xp.close();
            if (x4 != x) x4.close();
            if (w4 != w) w4.close();
        }
        if (oneD) {
            Tensor s = y.squeeze(2);
            y.close();
            y = s;
        }
        return NnData.castTo(y, x.dtype());
    }

    /** A 1- or 2-entry per-axis array as (h, w), with {@code fill} for the missing h of 1-d. */
    private static int[] plane(int[] v, int fill) { return v.length == 2 ? v : new int[]{fill, v[0]}; }

    /**
     * Direct convolution over 3 spatial axes in double.
     * x [N,C,D,H,W] (flat), w [M, C/group, kd,kh,kw], bias [M] or null -> [N, M, od,oh,ow].
     */
    static double[] direct(double[] x, int[] xs, double[] w, int m, int group, double[] bias, NnWindow g) {
        int n = xs[0], c = xs[1], cg = c / group, mg = m / group;
        int[] in = g.in(), k = g.kernel(), o = g.out();
        int inPlane = in[0] * in[1] * in[2], outPlane = o[0] * o[1] * o[2], kVol = k[0] * k[1] * k[2];
        double[] y = new double[n * m * outPlane];
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < m; oc++) {
                int c0 = (oc / mg) * cg, yBase = (b * m + oc) * outPlane;
                double init = bias == null ? 0 : bias[oc];
                for (int od = 0; od < o[0]; od++)
                    for (int oh = 0; oh < o[1]; oh++)
                        for (int ow = 0; ow < o[2]; ow++) {
                            double acc = init;
                            for (int ci = 0; ci < cg; ci++) {
                                int xBase = (b * c + c0 + ci) * inPlane, wBase = (oc * cg + ci) * kVol;
                                acc += window(x, xBase, w, wBase, g, in, k, od, oh, ow);
                            }
                            y[yBase + (od * o[1] + oh) * o[2] + ow] = acc;
                        }
            }
        return y;
    }

    /** Dot of one kernel with the input window at output position (od, oh, ow); pads read as 0. */
    private static double window(double[] x, int xBase, double[] w, int wBase, NnWindow g, int[] in, int[] k,
                                 int od, int oh, int ow) {
        int[] s = g.strides(), d = g.dilations(), p = g.padBegin();
        double acc = 0;
        for (int kd = 0; kd < k[0]; kd++) {
            int id = od * s[0] - p[0] + kd * d[0];
            if (id < 0 || id >= in[0]) continue;
            for (int kh = 0; kh < k[1]; kh++) {
                int ih = oh * s[1] - p[1] + kh * d[1];
                if (ih < 0 || ih >= in[1]) continue;
                int xRow = xBase + (id * in[1] + ih) * in[2], wRow = wBase + (kd * k[1] + kh) * k[2];
                for (int kw = 0; kw < k[2]; kw++) {
                    int iw = ow * s[2] - p[2] + kw * d[2];
                    if (iw >= 0 && iw < in[2]) acc += x[xRow + iw] * w[wRow + kw];
                }
            }
        }
        return acc;
    }
}
