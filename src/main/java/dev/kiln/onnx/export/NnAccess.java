package dev.kiln.onnx.export;

import dev.kiln.nn.Activation;
import dev.kiln.nn.LayerNorm;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.TransformerEncoderLayer;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.tensor.Tensor;

import java.lang.reflect.Field;

/**
 * Reads layer configuration that dev.kiln.nn does not expose yet. A stop-gap: each method names
 * the public getter it stands for; once those getters exist this class reduces to calls to them.
 * Reflection works here because the exporter lives in the same module as the layers.
 * <ul>
 *   <li>{@code Activation.kind()}: "ReLU", "GELU", "GELU(tanh)", "Softmax(dim=1)", ... (read from toString)</li>
 *   <li>{@code Pool2d.params()}, {@code isMax()}, {@code adaptiveOutput()} ({h, w} or null)</li>
 *   <li>{@code LayerNorm.normalizedShape()}, {@code eps()}, {@code weight()}, {@code bias()}</li>
 *   <li>{@code TransformerEncoderLayer.normFirst()}, {@code activation()} ("relu" / "gelu")</li>
 * </ul>
 */
final class NnAccess {
    private NnAccess() {}

    /** The activation's name as its toString prints it, without the trailing "()". */
    static String activationKind(Activation a) {
        String s = a.toString();
        return s.endsWith("()") ? s.substring(0, s.length() - 2) : s;
    }

    /** Pooling parameters, or null for an adaptive pool. */
    static Pool2dParams poolParams(Pool2d p) { return (Pool2dParams) field(p, "p"); }

    static boolean poolIsMax(Pool2d p) { return (Boolean) field(p, "max"); }

    /** {outH, outW} of an adaptive pool, or null for a fixed-window pool. */
    static int[] adaptiveOutput(Pool2d p) {
        int h = (Integer) field(p, "outH"), w = (Integer) field(p, "outW");
        return h > 0 ? new int[]{h, w} : null;
    }

    static int[] normalizedShape(LayerNorm ln) { return ((int[]) field(ln, "normalizedShape")).clone(); }

    static double eps(LayerNorm ln) { return (Double) field(ln, "eps"); }

    static Tensor weight(LayerNorm ln) { return ln.namedParameters().get("weight"); }

    static Tensor bias(LayerNorm ln) { return ln.namedParameters().get("bias"); }

    static boolean normFirst(TransformerEncoderLayer t) { return (Boolean) field(t, "normFirst"); }

    static boolean geluActivation(TransformerEncoderLayer t) { return (Boolean) field(t, "gelu"); }

    private static Object field(Object owner, String name) {
        try {
            Field f = owner.getClass().getDeclaredField(name);
            f.setAccessible(true);
            return f.get(owner);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("ONNX export: cannot read " + owner.getClass().getSimpleName() + "." + name
                    + " (the layer's fields changed; add a getter and use it in NnAccess)", e);
        }
    }
}
