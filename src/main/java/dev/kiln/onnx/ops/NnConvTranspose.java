package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.ops.MatMul;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * ONNX ConvTranspose over 1 to 3 spatial axes: each input element scatters its kernel-weighted
 * copy into the output ({@code o = i*stride + k*dilation - padBegin}), computed as an engine
 * GEMM per group and a col2im scatter; positions outside the output are dropped and output
 * positions no input reaches (output_padding) hold the bias.
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
        double[] y = gemmCol2im(x, w, m, group, b == null ? null : b.toDoubleArray(), win.lift3());
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
     * Transposed convolution over 3 spatial axes, per group as a GEMM then a col2im scatter:
     * cols [N, M/group * K, L] = W_g^T [M/group * K, C/group] x X_g [N, C/group, L] (on the engine),
     * then y[n, m, i*s + k*d - pb] += cols[n, m*K + k, i] (in double), plus the bias.
     * x [N,C,D,H,W], w [C, M/group, kd,kh,kw], bias [M] or null -> y [N, M, od,oh,ow] (flat).
     */
    static double[] gemmCol2im(Tensor x, Tensor w, int m, int group, double[] bias, NnWindow g) {
        int[] xs = x.shape();
        int n = xs[0], c = xs[1], cg = c / group, mg = m / group;
        int[] in = g.in(), o = g.out(), k = g.kernel();
        int l = in[0] * in[1] * in[2], outPlane = o[0] * o[1] * o[2], kVol = k[0] * k[1] * k[2];
        double[] y = new double[n * m * outPlane];
        if (bias != null)
            for (int b = 0; b < n; b++)
                for (int oc = 0; oc < m; oc++) java.util.Arrays.fill(y, (b * m + oc) * outPlane, (b * m + oc + 1) * outPlane, bias[oc]);
        DType t = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
        try (Tensor xc = as(x, t); Tensor wc = as(w, t); Tensor x3 = xc.reshape(n, c, l); Tensor w2 = wc.reshape(c, mg * kVol)) {
            for (int grp = 0; grp < group; grp++) {
                double[] cols;
                try (Tensor xg = x3.narrow(1, grp * cg, cg); Tensor wg = w2.narrow(0, grp * cg, cg);
                     Tensor wt = wg.transpose(0, 1); Tensor colsT = MatMul.matmul(wt, xg)) {
                    cols = colsT.toDoubleArray();
                }
                for (int b = 0; b < n; b++)
                    for (int j = 0; j < mg; j++)
                        col2im(cols, (b * mg + j) * kVol * l, y, (b * m + grp * mg + j) * outPlane, g);
            }
        }
        return y;
    }

    /** A contiguous tensor of dtype t (a new reference when x already is one). */
    private static Tensor as(Tensor x, DType t) { return x.dtype() == t ? x.contiguous() : x.to(t); }

    /** Adds one output channel's columns [K, L] (at colBase) into its output plane (at yBase). */
    private static void col2im(double[] cols, int colBase, double[] y, int yBase, NnWindow g) {
        int[] s = g.strides(), d = g.dilations(), p = g.padBegin(), k = g.kernel(), o = g.out(), in = g.in();
        int l = in[0] * in[1] * in[2];
        for (int kd = 0, kk = 0; kd < k[0]; kd++)
            for (int kh = 0; kh < k[1]; kh++)
                for (int kw = 0; kw < k[2]; kw++, kk++) {
                    int row = colBase + kk * l;
                    for (int id = 0; id < in[0]; id++) {
                        int od = id * s[0] + kd * d[0] - p[0];
                        if (od < 0 || od >= o[0]) continue;
                        for (int ih = 0; ih < in[1]; ih++) {
                            int oh = ih * s[1] + kh * d[1] - p[1];
                            if (oh < 0 || oh >= o[1]) continue;
                            int src = row + (id * in[1] + ih) * in[2], dst = yBase + (od * o[1] + oh) * o[2];
                            for (int iw = 0; iw < in[2]; iw++) {
                                int ow = iw * s[2] + kw * d[2] - p[2];
                                if (ow >= 0 && ow < o[2]) y[dst + ow] += cols[src + iw];
                            }
                        }
                    }
                }
    }
}
