package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * ONNX MaxUnpool: scatters X into zeros at the flat positions I (as MaxPool's Indices output).
 * <pre>
 * X [N, C, in...], I [N, C, in...] -> Y [N, C, out...], out = (in-1)*stride + kernel - padBegin - padEnd
 * </pre>
 * Indices address the default output shape; with output_shape the element keeps its coordinates
 * in the larger (or smaller, dropping what falls outside) requested shape, as the ONNX tests expect.
 */
final class NnMaxUnpool {
    private NnMaxUnpool() {}

    static List<Value> maxUnpool(OpCall call) {
        Tensor xt = call.in(0), it = call.in(1);
        int[] xs = xt.shape();
        if (xs.length < 3 || !java.util.Arrays.equals(xs, it.shape()))
            throw call.error("X " + Shape.str(xs) + " and I " + Shape.str(it.shape()) + " must be equal [N, C, spatial...]");
        int r = xs.length - 2;
        int[] k = call.attrIntArray("kernel_shape", null);
        if (k == null || k.length != r) throw call.error("kernel_shape must have " + r + " values");
        int[] st = NnWindow.ints(call, "strides", r, 1), pads = NnWindow.ints(call, "pads", 2 * r, 0);
        int[] def = xs.clone();
        for (int i = 0; i < r; i++) def[i + 2] = (xs[i + 2] - 1) * st[i] + k[i] - pads[i] - pads[i + r];
        int[] out = def;
        if (call.has(2)) {
            out = call.ints(2);
            if (out.length != xs.length || out[0] != xs[0] || out[1] != xs[1])
                throw call.error("output_shape " + java.util.Arrays.toString(out) + " does not fit X " + Shape.str(xs));
        }
        double[] x = xt.toDoubleArray();
        long[] idx = it.toLongArray();
        long total = Shape.numel(out), defTotal = Shape.numel(def);
        double[] y = new double[Math.toIntExact(total)];
        for (int i = 0; i < x.length; i++) {
            if (idx[i] < 0 || idx[i] >= defTotal) throw call.error("index " + idx[i] + " out of range for " + Shape.str(def));
            long at = out == def ? idx[i] : remap(idx[i], def, out);
            if (at >= 0) y[(int) at] = x[i];
        }
        return NnData.out(y, call.type(0), out);
    }

    /** A flat index of shape {@code from} re-expressed in shape {@code to}; -1 when outside it. */
    private static long remap(long flat, int[] from, int[] to) {
        long res = 0, mul = 1;
        for (int a = from.length - 1; a >= 0; a--) {
            long coord = flat % from[a];
            flat /= from[a];
            if (coord >= to[a]) return -1;
            res += coord * mul;
            mul *= to[a];
        }
        return res;
    }
}
