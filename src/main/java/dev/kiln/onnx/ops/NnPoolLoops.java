package dev.kiln.onnx.ops;

/**
 * Generic pooling loops over 3 spatial axes in double (1-d and 2-d windows lifted by
 * {@link NnWindow#lift3}): max (with ONNX flat indices), average (pads counted or not) and Lp.
 * Used where the engine's pool2d cannot express the case: dilations, 3-d, integer types, Lp.
 * <pre>
 * x [planes, D, H, W] (flat) -> y [planes, od, oh, ow]; indices index the whole input,
 * row-major within a plane, or column-major (storage_order 1).
 * </pre>
 */
final class NnPoolLoops {
    enum Kind { MAX, AVG, LP }

    private final NnWindow g;
    private final Kind kind;
    private final boolean includePad;
    private final double p;

    NnPoolLoops(NnWindow g3, Kind kind, boolean includePad, double p) {
        this.g = g3;
        this.kind = kind;
        this.includePad = includePad;
        this.p = p;
    }

    /** Pools every plane; returns {values, indices-as-doubles (null unless wanted)}. */
    double[][] run(double[] x, int planes, boolean wantIdx, boolean columnMajor) {
        int[] in = g.in(), o = g.out();
        int inPlane = in[0] * in[1] * in[2], outPlane = o[0] * o[1] * o[2];
        double[] y = new double[planes * outPlane];
        double[] idx = wantIdx ? new double[y.length] : null;
        int[] at = new int[1];
        for (int pl = 0; pl < planes; pl++)
            for (int od = 0, oi = pl * outPlane; od < o[0]; od++)
                for (int oh = 0; oh < o[1]; oh++)
                    for (int ow = 0; ow < o[2]; ow++, oi++) {
                        y[oi] = window(x, pl * inPlane, od, oh, ow, at);
                        if (idx != null) idx[oi] = (double) pl * inPlane + order(at[0], columnMajor);
                    }
        return new double[][]{y, idx};
    }

    /** A row-major plane offset, re-expressed column-major when asked. */
    private int order(int rowMajor, boolean columnMajor) {
        if (!columnMajor) return rowMajor;
        int[] in = g.in();
        int w = rowMajor % in[2], h = (rowMajor / in[2]) % in[1], d = rowMajor / (in[1] * in[2]);
        return d + in[0] * (h + in[1] * w);
    }

    private double window(double[] x, int base, int od, int oh, int ow, int[] at) {
        int[] in = g.in(), s = g.strides(), dl = g.dilations(), pb = g.padBegin(), pe = g.padEnd(), k = g.kernel();
        int[] start = {od * s[0] - pb[0], oh * s[1] - pb[1], ow * s[2] - pb[2]};
        double acc = kind == Kind.MAX ? Double.NEGATIVE_INFINITY : 0;
        int valid = 0, inPadded = 0;
        at[0] = -1;
        for (int kd = 0; kd < k[0]; kd++) {
            int id = start[0] + kd * dl[0];
            if (id >= in[0] + pe[0]) break;
            for (int kh = 0; kh < k[1]; kh++) {
                int ih = start[1] + kh * dl[1];
                if (ih >= in[1] + pe[1]) break;
                for (int kw = 0; kw < k[2]; kw++) {
                    int iw = start[2] + kw * dl[2];
                    if (iw >= in[2] + pe[2]) break;
                    inPadded++;
                    if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2]) continue;
                    int off = (id * in[1] + ih) * in[2] + iw;
                    double v = x[base + off];
                    valid++;
                    switch (kind) {
                        case MAX -> {
                            if (v > acc || at[0] < 0 || Double.isNaN(v)) {
                                acc = v;
                                at[0] = off;
                            }
                        }
                        case AVG -> acc += v;
                        case LP -> acc += Math.pow(Math.abs(v), p);
                    }
                }
            }
        }
        return switch (kind) {
            case MAX -> acc;
            case AVG -> acc / (includePad ? inPadded : valid);
            case LP -> Math.pow(acc, 1 / p);
        };
    }
}
