package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * ONNX Dropout. Inference (opset < 12, or training_mode absent/false, or ratio 0) is the identity
 * with an all-true mask. Training mode draws the keep mask from a Mersenne Twister seeded with the
 * {@code seed} attribute and compares uniform doubles in [0, 1) with the ratio, the same stream
 * NumPy's legacy {@code np.random.seed(seed); np.random.uniform(0, 1, shape)} produces, so the
 * conformance cases (generated that way) are reproducible; without a seed a random one is used
 * (the generator is {@link MersenneTwister}, shared with the random ops).
 */
final class NormDropout {
    private NormDropout() {}

    static void register(OpRegistry r) {
        r.register("Dropout", NormDropout::dropout);
    }

    private static List<Value> dropout(OpCall call) {
        Tensor x = call.in(0);
        double ratio;
        boolean training = false;
        if (call.opset() >= 12) {
            ratio = call.has(1) ? call.in(1).item() : 0.5;
            training = call.has(2) && call.in(2).item() != 0;
        } else {
            ratio = call.attrFloat("ratio", 0.5f);
        }
        if (ratio < 0 || ratio >= 1) throw call.error("ratio must be in [0, 1), got " + ratio);
        if (!training || ratio == 0) return identity(call, x);

        MersenneTwister rng = MersenneTwister.forSeed(call);
        double[] v = x.toDoubleArray();
        boolean[] keep = new boolean[v.length];
        double scale = 1.0 / (1.0 - ratio);
        for (int i = 0; i < v.length; i++) {
            keep[i] = rng.nextDouble() >= ratio;
            v[i] = keep[i] ? v[i] * scale : 0;
        }
        List<Value> out = new ArrayList<>();
        out.add(NormArrays.value(v, call.type(0), x.shape()));
        if (call.wantsOutput(1)) out.add(NormArrays.bools(keep, x.shape()));
        return out;
    }

    private static List<Value> identity(OpCall call, Tensor x) {
        List<Value> out = new ArrayList<>();
        out.add(Value.of(x.detach(), call.type(0)));
        if (call.wantsOutput(1)) {
            boolean[] all = new boolean[Math.toIntExact(x.numel())];
            Arrays.fill(all, true);
            if (call.opset() < 10) { // Dropout-7..9: the mask has the data type
                double[] ones = new double[all.length];
                Arrays.fill(ones, 1);
                out.add(NormArrays.value(ones, call.type(0), x.shape()));
            } else {
                out.add(NormArrays.bools(all, x.shape()));
            }
        }
        return out;
    }
}
