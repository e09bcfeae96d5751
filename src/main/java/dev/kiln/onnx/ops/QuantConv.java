package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * ONNX ConvInteger and QLinearConv: N-d grouped convolution of zero-point-centred 8-bit operands
 * with exact integer accumulation (a direct loop in long; these ops are rare). Padding contributes
 * zero after centring, i.e. pads with the zero point. QLinearConv adds the optional int32 bias and
 * requantizes with x_scale * w_scale[m] / y_scale (w_scale, w_zero_point per tensor or per output
 * channel).
 */
final class QuantConv {
    private QuantConv() {}

    static void register(OpRegistry r) {
        r.register("ConvInteger", QuantConv::convInteger);
        r.register("QLinearConv", QuantConv::qLinearConv);
    }

    private static List<Value> convInteger(OpCall call) {
        Tensor x = call.in(0), w = call.in(1);
        long[] xc = centered(call, x, call.has(2) ? call.in(2) : null, 1);
        long[] wc = centered(call, w, call.has(3) ? call.in(3) : null, w.size(0));
        Geometry g = Geometry.of(call, x.shape(), w.shape());
        return List.of(NormArrays.value(g.run(xc, wc), ElemType.INT32, g.outShape()));
    }

    private static List<Value> qLinearConv(OpCall call) {
        Tensor x = call.in(0), w = call.in(3);
        int m = w.size(0);
        long[] xc = centered(call, x, call.in(2), 1);
        long[] wc = centered(call, w, call.in(5), m);
        Geometry g = Geometry.of(call, x.shape(), w.shape());
        long[] acc = g.run(xc, wc);
        double xs = call.in(1).item(), ys = call.in(6).item(), yzp = call.in(7).item();
        double[] ws = call.in(4).toDoubleArray();
        if (ws.length != 1 && ws.length != m) throw call.error("w_scale has " + ws.length + " values, expected 1 or " + m);
        long[] bias = call.has(8) ? call.in(8).toLongArray() : null;
        if (bias != null && bias.length != m) throw call.error("B has " + bias.length + " values, expected " + m);
        ElemType outType = call.type(7);
        QuantOps.checkQuantType(call, outType);
        int[] os = g.outShape();
        int spatial = NormArrays.prod(os, 2, os.length);
        long[] q = new long[acc.length];
        for (int i = 0; i < acc.length; i++) {
            int ch = (i / spatial) % m;
            double real = (acc[i] + (bias == null ? 0 : bias[ch])) * xs * ws[ws.length == 1 ? 0 : ch];
            q[i] = QuantOps.saturate(Math.rint(real / ys) + yzp, outType);
        }
        return List.of(NormArrays.value(q, outType, os));
    }

    /** q - zp as longs; zp is per tensor or (for weights) one per leading-dim slice. */
    private static long[] centered(OpCall call, Tensor q, Tensor zp, int perLeading) {
        long[] v = q.toLongArray();
        if (zp == null) return v;
        long[] z = zp.toLongArray();
        if (z.length != 1 && z.length != perLeading)
            throw call.error("zero point shape " + Arrays.toString(zp.shape()) + " does not match shape " + Arrays.toString(q.shape()));
        int inner = v.length / Math.max(1, q.size(0));
        for (int i = 0; i < v.length; i++) v[i] -= z[z.length == 1 ? 0 : i / inner];
        return v;
    }

    /** Shapes, strides, dilations and begin pads of one N-d convolution. */
    record Geometry(int[] xs, int[] ws, int group, int[] strides, int[] dilations, int[] padBegin, int[] out) {

        static Geometry of(OpCall call, int[] xs, int[] ws) {
            int nd = xs.length - 2;
            if (nd < 1 || ws.length != xs.length)
                throw call.error("X shape " + Arrays.toString(xs) + " and W shape " + Arrays.toString(ws) + " do not form a convolution");
            int group = (int) call.attrInt("group", 1);
            if (xs[1] != ws[1] * group || ws[0] % group != 0)
                throw call.error("X has " + xs[1] + " channels but W shape " + Arrays.toString(ws) + " with group " + group + " expects " + ws[1] * group);
            int[] strides = call.attrIntArray("strides", filled(nd, 1));
            int[] dil = call.attrIntArray("dilations", filled(nd, 1));
            int[] pads = call.attrIntArray("pads", new int[2 * nd]);
            String autoPad = call.attrString("auto_pad", "NOTSET");
            int[] begin = new int[nd], out = new int[nd];
            for (int d = 0; d < nd; d++) {
                int in = xs[d + 2], k = dil[d] * (ws[d + 2] - 1) + 1;
                switch (autoPad) {
                    case "SAME_UPPER", "SAME_LOWER" -> {
                        out[d] = (in + strides[d] - 1) / strides[d];
                        int total = Math.max(0, (out[d] - 1) * strides[d] + k - in);
                        begin[d] = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                    }
                    case "VALID" -> out[d] = (in - k) / strides[d] + 1;
                    default -> {
                        begin[d] = pads[d];
                        out[d] = (in + pads[d] + pads[d + nd] - k) / strides[d] + 1;
                    }
                }
                if (out[d] <= 0) throw call.error("output size " + out[d] + " along spatial dim " + d + " is not positive");
            }
            return new Geometry(xs, ws, group, strides, dil, begin, out);
        }

        int[] outShape() {
            int[] s = new int[out.length + 2];
            s[0] = xs[0];
            s[1] = ws[0];
            System.arraycopy(out, 0, s, 2, out.length);
            return s;
        }

        /** Direct convolution with long accumulation. */
        long[] run(long[] x, long[] w) {
            int nd = out.length, n = xs[0], m = ws[0], cg = ws[1], mg = m / group;
            int inSp = NormArrays.prod(xs, 2, xs.length), outSp = NormArrays.prod(out, 0, nd);
            int kSp = NormArrays.prod(ws, 2, ws.length);
            long[] y = new long[n * m * outSp];
            int[] oc = new int[nd], kc = new int[nd];
            for (int o = 0; o < outSp; o++) {
                unravel(o, out, oc);
                for (int k = 0; k < kSp; k++) {
                    unravel(k, Arrays.copyOfRange(ws, 2, ws.length), kc);
                    int xi = inputOffset(oc, kc);
                    if (xi < 0) continue;
                    for (int b = 0; b < n; b++)
                        for (int oc1 = 0; oc1 < m; oc1++) {
                            int g = oc1 / mg;
                            long s = 0;
                            for (int c = 0; c < cg; c++)
                                s += x[(b * xs[1] + g * cg + c) * inSp + xi] * w[(oc1 * cg + c) * kSp + k];
                            y[(b * m + oc1) * outSp + o] += s;
                        }
                }
            }
            return y;
        }

        /** Flat spatial input index for output coords oc and kernel coords kc, or -1 in the padding. */
        private int inputOffset(int[] oc, int[] kc) {
            int idx = 0;
            for (int d = 0; d < oc.length; d++) {
                int p = oc[d] * strides[d] - padBegin[d] + kc[d] * dilations[d];
                if (p < 0 || p >= xs[d + 2]) return -1;
                idx = idx * xs[d + 2] + p;
            }
            return idx;
        }

        private static void unravel(int flat, int[] dims, int[] coords) {
            for (int d = dims.length - 1; d >= 0; d--) {
                coords[d] = flat % dims[d];
                flat /= dims[d];
            }
        }

        private static int[] filled(int n, int v) {
            int[] a = new int[n];
            Arrays.fill(a, v);
            return a;
        }
    }
}
