package dev.kiln.torchscript.interp;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Linear;
import dev.kiln.ops.MatMul;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * The fused attention kernels PyTorch's nn code calls on its inference fast path:
 * torch._native_multi_head_attention (nn.MultiheadAttention, batch-first self-attention),
 * torch._transformer_encoder_layer_fwd (nn.TransformerEncoderLayer), and
 * scaled_dot_product_attention. They are composed here from Kiln's linear, matmul, softmax and
 * layer norm.
 */
final class AttentionOps {
    private AttentionOps() {}

    static void register(OpTable t) {
        t.add("_native_multi_head_attention", "query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, "
                + "proj_weight, proj_bias, mask, need_weights, average_attn_weights, mask_type", AttentionOps::nativeMha);
        t.add("_transformer_encoder_layer_fwd", "src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, "
                + "proj_bias, use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2, "
                + "ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask, mask_type", AttentionOps::encoderLayer);
        t.add("scaled_dot_product_attention", "query, key, value, attn_mask, dropout_p, is_causal, scale",
                AttentionOps::sdpa);
    }

    /** The additive form of an attention mask: bool true (masked) becomes -inf, floats are kept. */
    private static Tensor additive(Tensor mask) {
        if (mask.dtype() != DType.BOOL) return mask.dtype() == DType.F32 ? mask : mask.to(DType.F32);
        return Tensor.where(mask, Tensor.scalar(Double.NEGATIVE_INFINITY), Tensor.scalar(0));
    }

    /**
     * Multi-head attention on batch-first inputs q (B,T,E), k/v (B,S,E) with packed in-projection
     * weights (3E,E). mask_type 1: key padding mask (B,S); 0 or null: attention mask (T,S) or (B,T,S).
     * Returns the output (B,T,E) and the attention weights (B,H,T,S) (not yet averaged).
     */
    static Tensor[] mha(Tensor q, Tensor k, Tensor v, int e, int heads, Tensor wqkv, Tensor bqkv, Tensor wo, Tensor bo,
                        Tensor mask, Long maskType) {
        if (q.dim() != 3) throw new ScriptException("multi-head attention: expected batch-first 3-d query, got "
                + Arrays.toString(q.shape()));
        if (e % heads != 0) throw new ScriptException("multi-head attention: embed_dim " + e + " not divisible by " + heads + " heads");
        int d = e / heads;
        Tensor qp = project(q, wqkv, bqkv, 0, e), kp = project(k, wqkv, bqkv, 1, e), vp = project(v, wqkv, bqkv, 2, e);
        Tensor qh = heads(qp, heads, d), kh = heads(kp, heads, d), vh = heads(vp, heads, d);
        Tensor scores = MatMul.matmul(qh.mul(1.0 / Math.sqrt(d)), kh.transpose(-2, -1)); // (B,H,T,S)
        if (mask != null) {
            Tensor m = additive(mask);
            if (maskType != null && maskType == 1) m = m.reshape(m.size(0), 1, 1, m.size(1));
            else if (m.dim() == 3) m = m.unsqueeze(1);
            scores = TensorOps.tensorBinary(BinaryOp.ADD, scores, m);
        }
        Tensor attn = scores.softmax(-1);
        Tensor out = MatMul.matmul(attn, vh).permute(0, 2, 1, 3).reshape(q.size(0), q.size(1), e);
        return new Tensor[]{Linear.linear(out, wo, bo), attn};
    }

    private static Tensor project(Tensor x, Tensor w, Tensor b, int part, int e) {
        return Linear.linear(x, w.narrow(0, part * e, e), b == null ? null : b.narrow(0, part * e, e));
    }

    /** (B,T,E) -> (B,H,T,D). */
    private static Tensor heads(Tensor x, int h, int d) {
        return x.reshape(x.size(0), x.size(1), h, d).permute(0, 2, 1, 3);
    }

    private static Object nativeMha(Args a) {
        Object mt = a.get(12, null);
        Tensor[] r = mha(a.tensor(0), a.tensor(1), a.tensor(2), a.getInt(3), a.getInt(4), a.tensor(5), a.optTensor(6),
                a.tensor(7), a.optTensor(8), a.optTensor(9), mt == null ? null : Values.toLong(mt, "mask_type"));
        Tensor weights;
        if (!a.getBool(10, true)) weights = Tensor.zeros(0);
        else weights = a.getBool(11, true) ? r[1].mean(new int[]{1}, false) : r[1];
        return ShapeOps.tuple(r[0], weights);
    }

    private static Object encoderLayer(Args a) {
        Tensor src = a.tensor(0);
        int e = a.getInt(1), heads = a.getInt(2);
        boolean gelu = a.getBool(7, false), normFirst = a.getBool(8, false);
        double eps = a.getDouble(9);
        int[] ns = {e};
        Tensor n1w = a.optTensor(10), n1b = a.optTensor(11), n2w = a.optTensor(12), n2b = a.optTensor(13);
        Object mt = a.get(19, null);
        Tensor mask = a.optTensor(18);
        Long maskType = mt == null ? null : Values.toLong(mt, "mask_type");
        Tensor x = src;
        Tensor attnIn = normFirst ? x.layerNorm(ns, n1w, n1b, eps) : x;
        Tensor sa = mha(attnIn, attnIn, attnIn, e, heads, a.tensor(3), a.optTensor(4), a.tensor(5), a.optTensor(6),
                mask, maskType)[0];
        x = normFirst ? x.add(sa) : x.add(sa).layerNorm(ns, n1w, n1b, eps);
        Tensor ffIn = normFirst ? x.layerNorm(ns, n2w, n2b, eps) : x;
        Tensor h = Linear.linear(ffIn, a.tensor(14), a.optTensor(15));
        h = gelu ? h.gelu() : h.relu();
        Tensor ff = Linear.linear(h, a.tensor(16), a.optTensor(17));
        return normFirst ? x.add(ff) : x.add(ff).layerNorm(ns, n2w, n2b, eps);
    }

    private static Object sdpa(Args a) {
        Tensor q = a.tensor(0), k = a.tensor(1), v = a.tensor(2);
        if (a.getDouble(4, 0) > 0) throw a.error("dropout_p > 0 is not supported for inference");
        double scale = a.getDouble(6, 1.0 / Math.sqrt(q.size(-1)));
        Tensor scores = MatMul.matmul(q.mul(scale), k.transpose(-2, -1));
        if (a.getBool(5, false)) {
            int tq = q.size(-2), tk = k.size(-2);
            double[] m = new double[tq * tk];
            for (int i = 0; i < tq; i++) for (int j = 0; j < tk; j++) m[i * tk + j] = j > i ? Double.NEGATIVE_INFINITY : 0;
            scores = scores.add(Tensor.fromDoubles(scores.dtype(), m, tq, tk));
        }
        Tensor mask = a.optTensor(3);
        if (mask != null) scores = TensorOps.tensorBinary(BinaryOp.ADD, scores, additive(mask));
        return MatMul.matmul(scores.softmax(-1), v);
    }

    static PyTuple pair(Tensor x, Tensor y) { return ShapeOps.tuple(x, y); }
}
