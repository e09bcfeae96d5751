package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * ONNX LRN (local response normalization across channels):
 * <pre>
 * x [N, C, spatial...]: y = x / (bias + alpha/size * sum_{c' in window(c)} x[c']^2)^beta
 * window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C-1]
 * </pre>
 */
final class NnLrn {
    private NnLrn() {}

    static List<Value> lrn(OpCall call) {
        Tensor xt = call.in(0);
        int[] xs = xt.shape();
        if (xs.length < 3) throw call.error("input " + Shape.str(xs) + " must be [N, C, spatial...]");
        int size = (int) call.attrInt("size", 0);
        if (size < 1) throw call.error("size must be >= 1, got " + size);
        double alpha = call.attrFloat("alpha", 1e-4f), beta = call.attrFloat("beta", 0.75f), bias = call.attrFloat("bias", 1f);
        double[] x = xt.toDoubleArray();
        int c = xs[1], plane = NnData.prod(xs, 2), lo = (size - 1) / 2, hi = size - 1 - lo;
        double[] y = new double[x.length];
        for (int n = 0; n < xs[0]; n++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < plane; p++) {
                    double sq = 0;
                    for (int k = Math.max(0, ch - lo); k <= Math.min(c - 1, ch + hi); k++) {
                        double v = x[(n * c + k) * plane + p];
                        sq += v * v;
                    }
                    int at = (n * c + ch) * plane + p;
                    y[at] = x[at] / Math.pow(bias + alpha / size * sq, beta);
                }
        return NnData.out(y, call.type(0), xs);
    }
}
