package dev.kiln.onnx.ops;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.function.DoubleUnaryOperator;

/**
 * The activation functions RNN, GRU and LSTM accept in their {@code activations} attribute, with the
 * {@code activation_alpha} / {@code activation_beta} lists consumed in order by the functions that
 * take parameters (defaults as in the matching ONNX ops).
 */
final class RnnActivations {
    private RnnActivations() {}

    static DoubleUnaryOperator sigmoid() { return v -> 1 / (1 + Math.exp(-v)); }

    static DoubleUnaryOperator tanh() { return Math::tanh; }

    /**
     * The {@code count} activations of the node: its attribute when given (count names), else
     * {@code defaults} repeated for each direction.
     */
    static DoubleUnaryOperator[] resolve(OpCall call, String[] defaults, int count) {
        List<byte[]> names = call.hasAttr("activations") ? call.attr("activations").strings() : null;
        if (names != null && names.size() != count)
            throw call.error("activations lists " + names.size() + " functions, expected " + count);
        float[] alphas = call.attrFloats("activation_alpha", new float[0]);
        float[] betas = call.attrFloats("activation_beta", new float[0]);
        int[] next = {0, 0};
        DoubleUnaryOperator[] out = new DoubleUnaryOperator[count];
        for (int i = 0; i < count; i++) {
            String name = names != null ? new String(names.get(i), StandardCharsets.UTF_8) : defaults[i % defaults.length];
            out[i] = of(call, name, alphas, betas, next);
        }
        return out;
    }

    private static DoubleUnaryOperator of(OpCall call, String name, float[] alphas, float[] betas, int[] next) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "sigmoid" -> sigmoid();
            case "tanh" -> tanh();
            case "relu" -> v -> Math.max(v, 0);
            case "softsign" -> v -> v / (1 + Math.abs(v));
            case "softplus" -> v -> Math.log1p(Math.exp(v));
            case "affine" -> {
                double a = take(alphas, next, 0, 1.0), b = take(betas, next, 1, 0.0);
                yield v -> a * v + b;
            }
            case "leakyrelu" -> {
                double a = take(alphas, next, 0, 0.01);
                yield v -> v >= 0 ? v : a * v;
            }
            case "thresholdedrelu" -> {
                double a = take(alphas, next, 0, 1.0);
                yield v -> v > a ? v : 0;
            }
            case "scaledtanh" -> {
                double a = take(alphas, next, 0, 1.0), b = take(betas, next, 1, 1.0);
                yield v -> a * Math.tanh(b * v);
            }
            case "hardsigmoid" -> {
                double a = take(alphas, next, 0, 0.2), b = take(betas, next, 1, 0.5);
                yield v -> Math.max(0, Math.min(1, a * v + b));
            }
            case "elu" -> {
                double a = take(alphas, next, 0, 1.0);
                yield v -> v >= 0 ? v : a * (Math.exp(v) - 1);
            }
            default -> throw call.error("unsupported activation '" + name + "'");
        };
    }

    private static double take(float[] list, int[] next, int which, double def) {
        return next[which] < list.length ? list[next[which]++] : def;
    }
}
