package dev.kiln.onnx.ops;

/**
 * One axis of a Resize: for each output index, the source indices and weights that produce it
 * (or the extrapolation value, for crop-and-resize coordinates outside the input). Follows the
 * ONNX reference: the source coordinate comes from coordinate_transformation_mode; its left
 * neighbour is taken as ceil(x)-1 so an integral coordinate has ratio 1; neighbours outside the
 * input read the edge value, or get weight 0 (weights renormalized) with exclude_outside.
 */
final class NnResizeAxis {
    enum Mode { NEAREST, LINEAR, CUBIC }

    record Options(Mode mode, String coordMode, String nearestMode, double cubicA, boolean excludeOutside,
                   double extrapolation) {}

    private final int in, out;
    private final int[][] idx;
    private final double[][] w;
    private final boolean[] extrapolate;
    private final double extrapolation;

    private NnResizeAxis(int in, int out, double extrapolation) {
        this.in = in;
        this.out = out;
        this.idx = new int[out][];
        this.w = new double[out][];
        this.extrapolate = new boolean[out];
        this.extrapolation = extrapolation;
    }

    /** The table for an axis of length {@code in} resized to {@code out} with the given scale and roi. */
    static NnResizeAxis plan(int in, int out, double scale, double roiStart, double roiEnd, Options o) {
        NnResizeAxis p = new NnResizeAxis(in, out, o.extrapolation());
        double outWidth = scale * in;
        for (int j = 0; j < out; j++) {
            double x = source(j, in, outWidth, scale, roiStart, roiEnd, o.coordMode());
            if (o.coordMode().equals("tf_crop_and_resize") && (x < 0 || x > in - 1)) {
                p.extrapolate[j] = true;
                continue;
            }
            p.fill(j, x, o);
        }
        return p;
    }

    /** Source coordinate of output index j. */
    static double source(int j, int in, double outWidth, double scale, double roiStart, double roiEnd, String mode) {
        return switch (mode) {
            case "half_pixel" -> (j + 0.5) / scale - 0.5;
            case "pytorch_half_pixel" -> outWidth == 1 ? -0.5 : (j + 0.5) / scale - 0.5;
            case "align_corners" -> outWidth == 1 ? 0 : j * (in - 1) / (outWidth - 1);
            case "asymmetric" -> j / scale;
            case "half_pixel_symmetric" -> {
                double adj = Math.floor(outWidth) / outWidth;
                double center = in / 2.0, offset = center * (1 - adj);
                yield offset + (j + 0.5) / scale - 0.5;
            }
            case "tf_crop_and_resize" -> (outWidth == 1 ? (roiEnd - roiStart) * (in - 1) / 2
                    : j * (roiEnd - roiStart) * (in - 1) / (outWidth - 1)) + roiStart * (in - 1);
            default -> throw new IllegalArgumentException("Resize: unknown coordinate_transformation_mode '" + mode + "'");
        };
    }

    private void fill(int j, double x, Options o) {
        int base = (int) Math.ceil(x) - 1;
        double r = x - base;
        switch (o.mode()) {
            case NEAREST -> {
                idx[j] = new int[]{clamp(nearest(x, base, r, o.nearestMode()))};
                w[j] = new double[]{1};
            }
            case LINEAR -> set(j, base, new double[]{1 - r, r}, false);
            case CUBIC -> set(j, base - 1, cubic(r, o.cubicA()), o.excludeOutside());
        }
    }

    private static int nearest(double x, int base, double r, String mode) {
        if (r == 1) return base + 1;
        return switch (mode) {
            case "round_prefer_floor" -> r <= 0.5 ? base : base + 1;
            case "round_prefer_ceil" -> r < 0.5 ? base : base + 1;
            case "floor" -> base;
            case "ceil" -> base + 1;
            default -> throw new IllegalArgumentException("Resize: unknown nearest_mode '" + mode + "'");
        };
    }

    /** Keys' cubic convolution weights for the 4 neighbours at distances 1+r, r, 1-r, 2-r. */
    static double[] cubic(double r, double a) {
        double s = 1 - r;
        return new double[]{
                ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                ((a + 2) * r - (a + 3)) * r * r + 1,
                ((a + 2) * s - (a + 3)) * s * s + 1,
                ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a};
    }

    private void set(int j, int first, double[] coef, boolean exclude) {
        int[] ix = new int[coef.length];
        double sum = 0;
        for (int k = 0; k < coef.length; k++) {
            int at = first + k;
            if (exclude && (at < 0 || at >= in)) coef[k] = 0;
            ix[k] = clamp(at);
            sum += coef[k];
        }
        if (exclude && sum != 0) for (int k = 0; k < coef.length; k++) coef[k] /= sum;
        idx[j] = ix;
        w[j] = coef;
    }

    private int clamp(int i) { return Math.max(0, Math.min(in - 1, i)); }

    /** For nearest mode without extrapolation: the source index of each output index. */
    long[] nearestIndices() {
        long[] r = new long[out];
        for (int j = 0; j < out; j++) r[j] = idx[j][0];
        return r;
    }

    /** Interpolates {@code data} of shape {@code shape} along {@code axis}; returns the new data. */
    double[] apply(double[] data, int[] shape, int axis) {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.length; i++) inner *= shape[i];
        double[] res = new double[outer * out * inner];
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < out; j++) {
                int dst = (o * out + j) * inner;
                if (extrapolate[j]) {
                    java.util.Arrays.fill(res, dst, dst + inner, extrapolation);
                    continue;
                }
                int[] ix = idx[j];
                double[] wj = w[j];
                for (int k = 0; k < ix.length; k++) {
                    if (wj[k] == 0) continue;
                    int src = (o * in + ix[k]) * inner;
                    double c = wj[k];
                    for (int t = 0; t < inner; t++) res[dst + t] += c * data[src + t];
                }
            }
        return res;
    }
}
