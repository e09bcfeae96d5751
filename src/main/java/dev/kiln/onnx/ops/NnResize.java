package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.ops.Indexing;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * ONNX Resize (opsets 10 to 19) and Upsample. Interpolation is separable: each resized axis is
 * interpolated in turn with a per-output-index table of source indices and weights
 * ({@link NnResizeAxis}), in double, for any rank and element type; nearest mode runs on the
 * engine as one index_select per resized axis.
 * <pre>
 * X [d0, d1, ...] -> Y [o0, o1, ...]; o = floor(d * scale) (scales) or sizes[i] (sizes)
 * </pre>
 */
final class NnResize {
    private NnResize() {}

    static List<Value> resize(OpCall call) {
        Tensor x = call.in(0);
        int[] xs = x.shape();
        int r = xs.length;
        NnResizeAxis.Mode mode = mode(call);
        if (call.opset() < 11) {
            double[] scales = floats(call, 1, r);
            return run(call, x, xs, scales, outFromScales(xs, scales), null,
                    new NnResizeAxis.Options(mode, "asymmetric", "floor", -0.75, false, 0));
        }
        if (call.attrInt("antialias", 0) != 0) throw call.error("antialias=1 is not supported");
        int[] axes = axes(call, r);
        Tensor roiT = call.opset() >= 11 ? call.inOrNull(1) : null;
        Tensor scalesT = call.inOrNull(2), sizesT = call.inOrNull(3);
        boolean hasScales = scalesT != null && scalesT.numel() > 0, hasSizes = sizesT != null && sizesT.numel() > 0;
        if (hasScales == hasSizes) throw call.error("exactly one of scales and sizes must be given");
        double[] scales = new double[r];
        int[] out = xs.clone();
        Arrays.fill(scales, 1.0);
        if (hasScales) {
            double[] s = scalesT.toDoubleArray();
            if (s.length != axes.length) throw call.error("scales has " + s.length + " values, expected " + axes.length);
            for (int i = 0; i < axes.length; i++) scales[axes[i]] = s[i];
            out = outFromScales(xs, scales);
        } else {
            long[] sz = sizesT.toLongArray();
            if (sz.length != axes.length) throw call.error("sizes has " + sz.length + " values, expected " + axes.length);
            sizes(call, xs, axes, sz, scales, out);
        }
        double[] roi = roi(roiT, axes, r);
        NnResizeAxis.Options opt = new NnResizeAxis.Options(mode,
                call.attrString("coordinate_transformation_mode", "half_pixel"),
                call.attrString("nearest_mode", "round_prefer_floor"),
                call.attrFloat("cubic_coeff_a", -0.75f), call.attrInt("exclude_outside", 0) != 0,
                call.attrFloat("extrapolation_value", 0f));
        return run(call, x, xs, scales, out, roi, opt);
    }

    /** Upsample (opsets 7 and 9): asymmetric coordinates, nearest rounds down. */
    static List<Value> upsample(OpCall call) {
        Tensor x = call.in(0);
        int[] xs = x.shape();
        double[] scales;
        if (call.has(1)) scales = floats(call, 1, xs.length);
        else {
            float[] f = call.attrFloats("scales", null);
            if (f == null || f.length != xs.length) throw call.error("scales must have " + xs.length + " values");
            scales = new double[f.length];
            for (int i = 0; i < f.length; i++) scales[i] = f[i];
        }
        return run(call, x, xs, scales, outFromScales(xs, scales), null,
                new NnResizeAxis.Options(mode(call), "asymmetric", "floor", -0.75, false, 0));
    }

    private static NnResizeAxis.Mode mode(OpCall call) {
        String m = call.attrString("mode", "nearest");
        return switch (m) {
            case "nearest" -> NnResizeAxis.Mode.NEAREST;
            case "linear", "bilinear", "trilinear" -> NnResizeAxis.Mode.LINEAR;
            case "cubic", "bicubic" -> NnResizeAxis.Mode.CUBIC;
            default -> throw call.error("unknown mode '" + m + "'");
        };
    }

    private static double[] floats(OpCall call, int i, int r) {
        double[] s = call.in(i).toDoubleArray();
        if (s.length != r) throw call.error("scales has " + s.length + " values for a rank-" + r + " input");
        return s;
    }

    private static int[] outFromScales(int[] xs, double[] scales) {
        int[] out = new int[xs.length];
        for (int i = 0; i < xs.length; i++) out[i] = (int) Math.floor(xs[i] * scales[i]);
        return out;
    }

    private static int[] axes(OpCall call, int r) {
        int[] axes = call.attrIntArray("axes", null);
        if (axes == null) {
            axes = new int[r];
            for (int i = 0; i < r; i++) axes[i] = i;
        }
        for (int i = 0; i < axes.length; i++) axes[i] = Shape.axis("Resize", axes[i], r);
        return axes;
    }

    /** Output sizes and per-axis scales from the sizes input, honouring keep_aspect_ratio_policy. */
    private static void sizes(OpCall call, int[] xs, int[] axes, long[] sz, double[] scales, int[] out) {
        String policy = call.attrString("keep_aspect_ratio_policy", "stretch");
        if (policy.equals("stretch")) {
            for (int i = 0; i < axes.length; i++) {
                out[axes[i]] = Math.toIntExact(sz[i]);
                scales[axes[i]] = (double) sz[i] / xs[axes[i]];
            }
            return;
        }
        boolean larger = policy.equals("not_smaller");
        if (!larger && !policy.equals("not_larger")) throw call.error("unknown keep_aspect_ratio_policy '" + policy + "'");
        double s = larger ? 0 : Double.MAX_VALUE;
        for (int i = 0; i < axes.length; i++) {
            double si = (double) sz[i] / xs[axes[i]];
            s = larger ? Math.max(s, si) : Math.min(s, si);
        }
        for (int a : axes) {
            scales[a] = s;
            out[a] = (int) Math.round(s * xs[a]);
        }
    }

    /** roi as [start0.., end0..] over all axes (null when absent). */
    private static double[] roi(Tensor roiT, int[] axes, int r) {
        if (roiT == null || roiT.numel() == 0) return null;
        double[] v = roiT.toDoubleArray();
        if (v.length == 2 * r) return v;
        double[] full = new double[2 * r];
        for (int i = 0; i < r; i++) full[r + i] = 1;
        if (v.length != 2 * axes.length) throw new IllegalArgumentException("Resize: roi has " + v.length
                + " values, expected " + 2 * axes.length);
        for (int i = 0; i < axes.length; i++) {
            full[axes[i]] = v[i];
            full[r + axes[i]] = v[axes.length + i];
        }
        return full;
    }

    private static List<Value> run(OpCall call, Tensor x, int[] xs, double[] scales, int[] out, double[] roi,
                                   NnResizeAxis.Options opt) {
        for (int i = 0; i < xs.length; i++)
            if (out[i] < 0 || (out[i] == 0 && xs[i] > 0 && scales[i] > 0))
                throw call.error("output shape " + Arrays.toString(out) + " from input " + Shape.str(xs) + " is invalid");
        if (opt.mode() == NnResizeAxis.Mode.NEAREST && !resamples(opt, roi) && !opt.coordMode().equals("tf_crop_and_resize"))
            return List.of(Value.of(nearest(x, xs, scales, out, opt), call.type(0)));
        double[] data = x.toDoubleArray();
        int[] cur = xs.clone();
        for (int a = 0; a < xs.length; a++) {
            if (cur[a] == out[a] && !resamples(opt, roi) && scales[a] == 1.0) continue;
            NnResizeAxis plan = NnResizeAxis.plan(xs[a], out[a], scales[a],
                    roi == null ? 0 : roi[a], roi == null ? 1 : roi[xs.length + a], opt);
            data = plan.apply(data, cur, a);
            cur[a] = out[a];
        }
        return NnData.out(data, call.type(0), cur);
    }

    /** Nearest resize on the engine: one index_select per resized axis, in x's dtype. */
    private static Tensor nearest(Tensor x, int[] xs, double[] scales, int[] out, NnResizeAxis.Options opt) {
        Tensor cur = x.contiguous();
        for (int a = 0; a < xs.length; a++) {
            if (xs[a] == out[a] && scales[a] == 1.0) continue;
            long[] ix = NnResizeAxis.plan(xs[a], out[a], scales[a], 0, 1, opt).nearestIndices();
            try (Tensor old = cur; Tensor idx = Tensor.fromArray(ix, ix.length)) {
                cur = Indexing.indexSelect(old, a, idx);
            }
        }
        return cur;
    }

    /** Whether an unscaled axis can still move (crop-and-resize takes a region of it). */
    private static boolean resamples(NnResizeAxis.Options opt, double[] roi) {
        return roi != null && opt.coordMode().equals("tf_crop_and_resize");
    }
}
