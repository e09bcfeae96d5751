package dev.kiln.onnx.export;

import dev.kiln.nn.LayerNorm;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.MultiheadAttention;
import dev.kiln.nn.TransformerEncoderLayer;
import dev.kiln.tensor.Tensor;

import java.util.Map;

import static dev.kiln.onnx.export.OnnxAttr.i;
import static dev.kiln.onnx.export.OnnxAttr.ints;

/**
 * Emits self-attention and transformer encoder layers with plain ONNX ops (no contrib Attention):
 * per-head projections as MatMul + Add, Reshape/Transpose into heads, scaled scores with MatMul,
 * Softmax, and the output projection. Sequence-first inputs ([L, B, E]) are transposed to
 * batch-first and back. Shapes use Reshape's 0 (copy dim), so batch and length stay dynamic.
 */
final class AttentionEmitter {
    private final GraphBuilder g;
    private final ModuleEmitter layers;

    AttentionEmitter(GraphBuilder g, ModuleEmitter layers) {
        this.g = g;
        this.layers = layers;
    }

    /** MultiheadAttention(x, x, x) without mask; x is [B, L, E] (batchFirst) or [L, B, E]. */
    String selfAttention(MultiheadAttention mha, String prefix, ModuleEmitter.Emitted x) {
        if (x.rank() != 3)
            throw new IllegalArgumentException("ONNX export: MultiheadAttention at '" + prefix + "' needs a 3-d input, got rank " + x.rank());
        int e = mha.embedDim, h = mha.numHeads, d = e / h;
        String hint = prefix + "attn";
        String in = mha.batchFirst ? x.name() : g.op("Transpose", hint + "_bfirst", x.name(), ints("perm", 1, 0, 2));
        Map<String, Tensor> p = mha.namedParameters();
        Tensor w = p.get("in_proj_weight"), b = p.get("in_proj_bias");
        String heads = g.int64s(hint + "_heads_shape", 0, 0, h, d);
        String q = split(in, w, b, 0, e, prefix + "q", heads, 0, 2, 1, 3); // [B, H, L, D]
        String k = split(in, w, b, 1, e, prefix + "k", heads, 0, 2, 3, 1); // [B, H, D, L]
        String v = split(in, w, b, 2, e, prefix + "v", heads, 0, 2, 1, 3); // [B, H, L, D]
        String qs = g.op("Mul", hint + "_qscaled", q, g.scalar(hint + "_scale", 1.0 / Math.sqrt(d)));
        String scores = g.op("MatMul", hint + "_scores", qs, k);               // [B, H, L, L]
        String probs = g.op("Softmax", hint + "_probs", scores, i("axis", -1));
        String ctx = g.op("MatMul", hint + "_ctx", probs, v);                  // [B, H, L, D]
        String merged = g.op("Transpose", hint + "_ctx_t", ctx, ints("perm", 0, 2, 1, 3));
        String flat = g.op("Reshape", hint + "_ctx_flat", merged, g.int64s(hint + "_embed_shape", 0, 0, e));
        Linear out = (Linear) mha.children().get("out_proj");
        String y = layers.linear(flat, 3, out.weight(), out.bias(), prefix + "out_proj.");
        return mha.batchFirst ? y : g.op("Transpose", hint + "_sfirst", y, ints("perm", 1, 0, 2));
    }

    /** One of the packed q/k/v projections (rows part*E..(part+1)*E), split into heads and permuted. */
    private String split(String x, Tensor w, Tensor b, int part, int e, String name, String headsShape, int... perm) {
        String wt = g.initializer(name + "_proj_weight_t", w.narrow(0, part * e, e).transpose(0, 1));
        String y = g.op("Add", name + "_proj", g.op("MatMul", name + "_matmul", x, wt),
                g.initializer(name + "_proj_bias", b.narrow(0, part * e, e)));
        return g.op("Transpose", name + "_heads", g.op("Reshape", name + "_split", y, headsShape), ints("perm", perm));
    }

    /** Post-norm: LN1(x + SA(x)), LN2(h + FF(h)); pre-norm (normFirst): x + SA(LN1(x)), h + FF(LN2(h)). */
    String encoderLayer(TransformerEncoderLayer t, String prefix, ModuleEmitter.Emitted x) {
        Map<String, Module> c = t.children();
        MultiheadAttention sa = (MultiheadAttention) c.get("self_attn");
        LayerNorm n1 = (LayerNorm) c.get("norm1"), n2 = (LayerNorm) c.get("norm2");
        String act = t.activation();
        String attnIn = t.normFirst() ? layers.layerNorm(n1, prefix + "norm1.", x.name()) : x.name();
        String a = selfAttention(sa, prefix + "self_attn.", new ModuleEmitter.Emitted(attnIn, x.probe()));
        String sum1 = g.op("Add", prefix + "residual1", x.name(), a);
        if (t.normFirst()) {
            String f = feedForward(c, prefix, layers.layerNorm(n2, prefix + "norm2.", sum1), act);
            return g.op("Add", prefix + "residual2", sum1, f);
        }
        String h = layers.layerNorm(n1, prefix + "norm1.", sum1);
        return layers.layerNorm(n2, prefix + "norm2.", g.op("Add", prefix + "residual2", h, feedForward(c, prefix, h, act)));
    }

    private String feedForward(Map<String, Module> c, String prefix, String x, String activation) {
        Linear l1 = (Linear) c.get("linear1"), l2 = (Linear) c.get("linear2");
        String a = layers.linear(x, 3, l1.weight(), l1.bias(), prefix + "linear1.");
        String act = switch (activation) {
            case "gelu" -> layers.geluErf(a, prefix + "gelu");
            case "gelu_tanh" -> layers.geluTanh(a, prefix + "gelu_tanh");
            default -> g.op("Relu", prefix + "relu", a);
        };
        return layers.linear(act, 3, l2.weight(), l2.bias(), prefix + "linear2.");
    }
}
