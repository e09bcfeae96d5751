package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * ONNX ConvTranspose over 1 to 3 spatial axes: each input element scatters its kernel-weighted
 * copy into the output ({@code o = i*stride + k*dilation - padBegin}); positions outside the
 * output are dropped and output positions no input reaches (output_padding) hold the bias.
 * <pre>
 * x [N, C, in...], W [C, M/group, k...], B [M] (optional) -> y [N, M, out...]
 * out = stride*(in-1) + output_padding + (k-1)*dilation + 1 - padBegin - padEnd
 * </pre>
 * With {@code output_shape} (or SAME auto_pad) the pads are derived from the requested size:
 * total = stride*(in-1) + output_padding + span - out, split floor(total/2) first for SAME_UPPER,
 * otherwise floor(total/2) last (a negative total extends the output with bias-only positions).
 */
final class NnConvTranspose {
    private NnConvTranspose() {}

    static List<Value> convTranspose(OpCall call) {
        Tensor x = call.in(0), w = call.in(1), b = call.inOrNull(2);
        int[] xs = x.shape(), ws = w.shape();
        int group = (int) call.attrInt("group", 1);
        if (xs.length < 3 || xs.length > 5 || ws.length != xs.length)
            throw call.error("input " + Shape.str(xs) + " and weight " + Shape.str(ws)
                    + " must be [N, C, spatial...] / [C, M/group, k...] with 1 to 3 spatial axes");
        if (group < 1 || ws[0] != xs[1] || xs[1] % group != 0)
            throw call.error("input " + Shape.str(xs) + " and weight " + Shape.str(ws) + " do not agree with group=" + group);
        int m = ws[1] * group;
        if (b != null && (b.dim() != 1 || b.size(0) != m)) throw call.error("bias " + Shape.str(b.shape()) + " must be [" + m + "]");
        NnWindow win = window(call, NnWindow.spatial(xs), NnWindow.spatial(ws));
        double[] y = scatter(x.toDoubleArray(), xs, w.toDoubleArray(), m, group,
                b == null ? null : b.toDoubleArray(), win.lift3());
        int[] ys = new int[xs.length];
        ys[0] = xs[0];
        ys[1] = m;
        System.arraycopy(win.out(), 0, ys, 2, win.rank());
        return NnData.out(y, call.type(0), ys);
    }

    /** Kernel, strides, dilations, pads and output size from the ConvTranspose attributes. */
    static NnWindow window(OpCall call, int[] in, int[] kernel) {
        int r = in.length;
        int[] ks = call.attrIntArray("kernel_shape", null);
        if (ks != null && !Arrays.equals(ks, kernel))
            throw call.error("kernel_shape " + Arrays.toString(ks) + " does not match weight kernel " + Arrays.toString(kernel));
        int[] st = NnWindow.ints(call, "strides", r, 1), dil = NnWindow.ints(call, "dilations", r, 1);
        int[] outPad = NnWindow.ints(call, "output_padding", r, 0);
        int[] outShape = call.attrIntArray("output_shape", null);
        if (outShape != null && outShape.length == r + 2) outShape = Arrays.copyOfRange(outShape, 2, r + 2);
        if (outShape != null && outShape.length != r)
            throw call.error("output_shape " + Arrays.toString(outShape) + " must have " + r + " values");
        String autoPad = call.attrString("auto_pad", "NOTSET");
        int[] pb = new int[r], pe = new int[r], out = new int[r];
        for (int i = 0; i < r; i++) {
            int full = st[i] * (in[i] - 1) + outPad[i] + (kernel[i] - 1) * dil[i] + 1;
            boolean same = autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER");
            if (outShape != null || same) {
                out[i] = outShape != null ? outShape[i] : in[i] * st[i];
                int total = full - out[i], half = Math.floorDiv(total, 2);
                pb[i] = autoPad.equals("SAME_UPPER") ? half : total - half;
                pe[i] = total - pb[i];
            } else {
                if (!autoPad.equals("VALID")) {
                    int[] pads = NnWindow.ints(call, "pads", 2 * r, 0);
                    pb[i] = pads[i];
                    pe[i] = pads[i + r];
                }
                out[i] = full - pb[i] - pe[i];
            }
            if (out[i] < 1) throw call.error("output size " + out[i] + " on spatial axis " + i + " is < 1");
        }
        return new NnWindow(in.clone(), kernel.clone(), st, dil, pb, pe, out);
    }

    /**
     * Transposed convolution over 3 spatial axes in double.
     * x [N,C,D,H,W] (flat), w [C, M/group, kd,kh,kw], bias [M] or null -> [N, M, od,oh,ow].
     */
    static double[] scatter(double[] x, int[] xs, double[] w, int m, int group, double[] bias, NnWindow g) {
        int n = xs[0], c = xs[1], cg = c / group, mg = m / group;
        int[] in = g.in(), k = g.kernel(), o = g.out();
        int inPlane = in[0] * in[1] * in[2], outPlane = o[0] * o[1] * o[2], kVol = k[0] * k[1] * k[2];
        double[] y = new double[n * m * outPlane];
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < m; oc++) {
                int yBase = (b * m + oc) * outPlane, grp = oc / mg;
                if (bias != null) Arrays.fill(y, yBase, yBase + outPlane, bias[oc]);
                for (int ci = 0; ci < cg; ci++) {
                    int ic = grp * cg + ci;
                    int xBase = (b * c + ic) * inPlane, wBase = (ic * mg + oc % mg) * kVol;
                    for (int id = 0; id < in[0]; id++)
                        for (int ih = 0; ih < in[1]; ih++)
                            for (int iw = 0; iw < in[2]; iw++) {
                                double v = x[xBase + (id * in[1] + ih) * in[2] + iw];
                                spread(y, yBase, v, w, wBase, g, id, ih, iw);
                            }
                }
            }
        return y;
    }

    /** Adds v * kernel into the output positions reached from input position (id, ih, iw). */
    private static void spread(double[] y, int yBase, double v, double[] w, int wBase, NnWindow g, int id, int ih, int iw) {
        int[] s = g.strides(), d = g.dilations(), p = g.padBegin(), k = g.kernel(), o = g.out();
        for (int kd = 0; kd < k[0]; kd++) {
            int od = id * s[0] + kd * d[0] - p[0];
            if (od < 0 || od >= o[0]) continue;
            for (int kh = 0; kh < k[1]; kh++) {
                int oh = ih * s[1] + kh * d[1] - p[1];
                if (oh < 0 || oh >= o[1]) continue;
                int yRow = yBase + (od * o[1] + oh) * o[2], wRow = wBase + (kd * k[1] + kh) * k[2];
                for (int kw = 0; kw < k[2]; kw++) {
                    int ow = iw * s[2] + kw * d[2] - p[2];
                    if (ow >= 0 && ow < o[2]) y[yRow + ow] += v * w[wRow + kw];
                }
            }
        }
    }
}
