package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The optimizer ops of the ai.onnx.preview.training domain: Adagrad, Adam and Momentum (standard
 * and Nesterov). Inputs are R (learning rate), T (update count), then n tensors per group
 * (X..., G..., and the optimizer's state tensors); outputs are the new X... followed by the new
 * state groups. Each element is updated independently in double precision.
 */
final class TrainingOps {
    private TrainingOps() {}

    static final String DOMAIN = "ai.onnx.preview.training";

    /** One element's update: reads x, g and the states, writes the new x and states into out. */
    private interface Rule {
        void apply(double r, long t, double x, double g, double[] states, double[] out);
    }

    static void register(OpRegistry r) {
        r.register(DOMAIN, "Adagrad", c -> run(c, 1, adagrad(c)));
        r.register(DOMAIN, "Adam", c -> run(c, 2, adam(c)));
        r.register(DOMAIN, "Momentum", c -> run(c, 1, momentum(c)));
    }

    private static Rule adagrad(OpCall c) {
        double decay = c.attrFloat("decay_factor", 0), eps = c.attrFloat("epsilon", 1e-6f);
        double norm = c.attrFloat("norm_coefficient", 0);
        return (r, t, x, g, st, out) -> {
            double rt = r / (1 + t * decay);
            double gr = norm * x + g;
            double h = st[0] + gr * gr;
            out[0] = x - rt * gr / (Math.sqrt(h) + eps);
            out[1] = h;
        };
    }

    private static Rule adam(OpCall c) {
        double alpha = c.attrFloat("alpha", 0.9f), beta = c.attrFloat("beta", 0.999f);
        double eps = c.attrFloat("epsilon", 1e-6f), norm = c.attrFloat("norm_coefficient", 0);
        double post = c.attrFloat("norm_coefficient_post", 0);
        return (r, t, x, g, st, out) -> {
            double gr = norm * x + g;
            double v = alpha * st[0] + (1 - alpha) * gr;
            double h = beta * st[1] + (1 - beta) * gr * gr;
            double rt = t > 0 ? r * Math.sqrt(1 - Math.pow(beta, t)) / (1 - Math.pow(alpha, t)) : r;
            out[0] = (1 - post) * (x - rt * v / (Math.sqrt(h) + eps));
            out[1] = v;
            out[2] = h;
        };
    }

    private static Rule momentum(OpCall c) {
        double alpha = c.attrFloat("alpha", 0), beta = c.attrFloat("beta", 0);
        double norm = c.attrFloat("norm_coefficient", 0);
        String mode = c.attrString("mode", "standard");
        if (!mode.equals("standard") && !mode.equals("nesterov"))
            throw c.error("mode must be standard or nesterov, got '" + mode + "'");
        boolean nesterov = mode.equals("nesterov");
        return (r, t, x, g, st, out) -> {
            double gr = norm * x + g;
            double v = alpha * st[0] + (t > 0 ? beta : 1) * gr;
            out[0] = nesterov ? x - r * (gr + alpha * v) : x - r * v;
            out[1] = v;
        };
    }

    /** Applies the rule to each of the n tensor groups; {@code states} state tensors per X. */
    private static List<Value> run(OpCall call, int states, Rule rule) {
        int groupSize = 2 + states;
        int n = (call.inputCount() - 2) / groupSize;
        if (n < 1 || call.inputCount() != 2 + n * groupSize)
            throw call.error(call.inputCount() + " inputs do not form R, T and groups of " + groupSize + " tensors");
        double r = call.in(0).item();
        long t = (long) call.in(1).item();
        List<Value> xs = new ArrayList<>();
        List<List<Value>> stateOuts = new ArrayList<>();
        for (int k = 0; k < states; k++) stateOuts.add(new ArrayList<>());
        for (int i = 0; i < n; i++) {
            Tensor x = call.in(2 + i);
            double[] xv = x.toDoubleArray(), gv = operand(call, 2 + n + i, x);
            double[][] sv = new double[states][];
            for (int k = 0; k < states; k++) sv[k] = operand(call, 2 + (2 + k) * n + i, x);
            double[][] res = new double[1 + states][xv.length];
            double[] cur = new double[states], out = new double[1 + states];
            for (int e = 0; e < xv.length; e++) {
                for (int k = 0; k < states; k++) cur[k] = sv[k][e];
                rule.apply(r, t, xv[e], gv[e], cur, out);
                for (int k = 0; k <= states; k++) res[k][e] = out[k];
            }
            xs.add(NormArrays.value(res[0], call.type(2 + i), x.shape()));
            for (int k = 0; k < states; k++)
                stateOuts.get(k).add(NormArrays.value(res[1 + k], call.type(2 + (2 + k) * n + i), x.shape()));
        }
        List<Value> out = new ArrayList<>(xs);
        stateOuts.forEach(out::addAll);
        return out;
    }

    private static double[] operand(OpCall call, int i, Tensor like) {
        Tensor t = call.in(i);
        if (!Arrays.equals(t.shape(), like.shape()))
            throw call.error("input " + i + " has shape " + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(like.shape()));
        return t.toDoubleArray();
    }
}
