package dev.kiln.onnx.ops;

import java.util.Arrays;

/**
 * The sliding-window geometry of Conv, ConvTranspose and the pooling ops over {@code r} spatial
 * axes: kernel, strides, dilations, pads at the start and end of each axis, and the output size.
 * Built from the ONNX attributes ({@code kernel_shape, strides, dilations, pads, auto_pad,
 * ceil_mode}); {@link #lift3} widens 1-d and 2-d windows to 3-d (leading axes of size 1) so the
 * generic loops are written once.
 */
record NnWindow(int[] in, int[] kernel, int[] strides, int[] dilations, int[] padBegin, int[] padEnd, int[] out) {

    int rank() { return in.length; }

    /** Extent of the dilated kernel on axis i. */
    int span(int i) { return (kernel[i] - 1) * dilations[i] + 1; }

    boolean symmetricPads() { return Arrays.equals(padBegin, padEnd); }

    boolean unitDilations() {
        for (int d : dilations) if (d != 1) return false;
        return true;
    }

    /** Window for Conv (floor output size) or pooling (ceil_mode honoured) over input spatial dims. */
    static NnWindow of(OpCall call, int[] in, int[] kernel, boolean ceilMode) {
        int r = in.length;
        int[] strides = ints(call, "strides", r, 1);
        int[] dil = ints(call, "dilations", r, 1);
        for (int i = 0; i < r; i++)
            if (strides[i] < 1 || dil[i] < 1 || kernel[i] < 1)
                throw call.error("kernel " + Arrays.toString(kernel) + ", strides " + Arrays.toString(strides)
                        + " and dilations " + Arrays.toString(dil) + " must be >= 1");
        int[] pb = new int[r], pe = new int[r], out = new int[r];
        String autoPad = call.attrString("auto_pad", "NOTSET");
        for (int i = 0; i < r; i++) {
            int span = (kernel[i] - 1) * dil[i] + 1;
            switch (autoPad) {
                case "SAME_UPPER", "SAME_LOWER" -> {
                    out[i] = Math.ceilDiv(in[i], strides[i]);
                    int total = Math.max(0, (out[i] - 1) * strides[i] + span - in[i]);
                    int small = total / 2;
                    pb[i] = autoPad.equals("SAME_UPPER") ? small : total - small;
                    pe[i] = total - pb[i];
                }
                case "VALID" -> out[i] = Math.ceilDiv(in[i] - span + 1, strides[i]);
                case "NOTSET", "" -> {
                    int[] pads = ints(call, "pads", 2 * r, 0);
                    pb[i] = pads[i];
                    pe[i] = pads[i + r];
                    int num = in[i] + pb[i] + pe[i] - span;
                    out[i] = (ceilMode ? Math.ceilDiv(num, strides[i]) : Math.floorDiv(num, strides[i])) + 1;
                }
                default -> throw call.error("unknown auto_pad '" + autoPad + "'");
            }
            if (out[i] < 1)
                throw call.error("input spatial shape " + Arrays.toString(in) + " is too small for kernel "
                        + Arrays.toString(kernel) + " (dilations " + Arrays.toString(dil) + ", pads "
                        + Arrays.toString(pb) + "/" + Arrays.toString(pe) + ")");
        }
        return new NnWindow(in.clone(), kernel.clone(), strides, dil, pb, pe, out);
    }

    /** The same window over 3 spatial axes: 1-d and 2-d windows get leading axes of size 1. */
    NnWindow lift3() {
        if (rank() == 3) return this;
        if (rank() > 3) throw new IllegalArgumentException("more than 3 spatial axes: " + Arrays.toString(in));
        return new NnWindow(lift(in, 1), lift(kernel, 1), lift(strides, 1), lift(dilations, 1),
                lift(padBegin, 0), lift(padEnd, 0), lift(out, 1));
    }

    private static int[] lift(int[] v, int fill) {
        int[] r = new int[3];
        Arrays.fill(r, fill);
        System.arraycopy(v, 0, r, 3 - v.length, v.length);
        return r;
    }

    /** An INTS attribute of length n, or n copies of def when absent. */
    static int[] ints(OpCall call, String name, int n, int def) {
        int[] v = call.attrIntArray(name, null);
        if (v == null) {
            v = new int[n];
            Arrays.fill(v, def);
        } else if (v.length != n) {
            throw call.error("attribute " + name + " has " + v.length + " values, expected " + n);
        }
        return v;
    }

    /** Spatial dims of a shape [N, C, spatial...]. */
    static int[] spatial(int[] shape) { return Arrays.copyOfRange(shape, 2, shape.length); }
}
