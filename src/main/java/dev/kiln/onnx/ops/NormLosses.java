package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * ONNX NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. Input is [N, C, d1, ..., dk], the
 * target [N, d1, ..., dk] holds class indices, the optional weight has C values. A target equal to
 * {@code ignore_index} contributes 0 and has weight 0. Reduction "none" keeps the target's shape,
 * "sum" adds, "mean" divides the weighted sum by the sum of the applied weights. SCE takes the
 * log-softmax over axis 1 with Kiln's fused kernel (also its optional log_prob output) and then
 * applies the same gather in double precision.
 */
final class NormLosses {
    private NormLosses() {}

    static void register(OpRegistry r) {
        r.register("NegativeLogLikelihoodLoss", NormLosses::nll);
        r.register("SoftmaxCrossEntropyLoss", NormLosses::sce);
    }

    private static List<Value> nll(OpCall call) {
        return List.of(loss(call, call.in(0)));
    }

    private static List<Value> sce(OpCall call) {
        Tensor x = call.in(0);
        if (x.dim() < 2) throw call.error("scores must have rank >= 2 (N, C, ...), got shape " + Arrays.toString(x.shape()));
        List<Value> out = new ArrayList<>();
        try (Scope s = Scope.open()) {
            Tensor logProb = x.logSoftmax(1);
            if (logProb.dtype() != x.dtype()) logProb = logProb.to(x.dtype());
            Value loss = loss(call, logProb);
            s.keep(loss.tensor());
            out.add(loss);
            if (call.wantsOutput(1)) out.add(Value.of(s.keep(logProb), call.type(0)));
        }
        return out;
    }

    /** The weighted negative gather of {@code logp} [N, C, D...] at the targets (input 1), reduced. */
    private static Value loss(OpCall call, Tensor logp) {
        int[] xs = logp.shape();
        if (xs.length < 2) throw call.error("input must have rank >= 2 (N, C, ...), got shape " + Arrays.toString(xs));
        int n = xs[0], c = xs[1], d = NormArrays.prod(xs, 2, xs.length);
        int[] ts = call.in(1).shape();
        int[] want = new int[xs.length - 1];
        want[0] = n;
        System.arraycopy(xs, 2, want, 1, xs.length - 2);
        if (!Arrays.equals(ts, want))
            throw call.error("target shape " + Arrays.toString(ts) + " does not match input shape " + Arrays.toString(xs)
                    + " (expected " + Arrays.toString(want) + ")");
        double[] weight = call.has(2) ? call.in(2).toDoubleArray() : null;
        if (weight != null && weight.length != c)
            throw call.error("weight has " + weight.length + " values, expected C = " + c);
        boolean hasIgnore = call.hasAttr("ignore_index");
        long ignore = call.attrInt("ignore_index", 0);

        double[] p = logp.toDoubleArray();
        long[] target = call.in(1).toLongArray();
        double[] loss = new double[target.length];
        double weightSum = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) {
                int k = i * d + j;
                long t = target[k];
                if (hasIgnore && t == ignore) continue;
                if (t < 0 || t >= c) throw call.error("target value " + t + " at flat index " + k + " is outside [0, " + c + ")");
                double w = weight == null ? 1 : weight[(int) t];
                loss[k] = -p[(i * c + (int) t) * d + j] * w;
                weightSum += w;
            }
        }
        String reduction = call.attrString("reduction", "mean");
        return switch (reduction) {
            case "none" -> NormArrays.value(loss, call.type(0), ts);
            case "sum" -> NormArrays.value(new double[]{sum(loss)}, call.type(0));
            case "mean" -> NormArrays.value(new double[]{sum(loss) / weightSum}, call.type(0));
            default -> throw call.error("reduction must be none, sum or mean, got '" + reduction + "'");
        };
    }

    private static double sum(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return s;
    }
}
