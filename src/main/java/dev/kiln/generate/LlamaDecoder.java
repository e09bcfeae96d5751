package dev.kiln.generate;

import dev.kiln.backend.Backends;
import dev.kiln.backend.cpu.NBitsVnni;
import dev.kiln.ops.Indexing;
import dev.kiln.ops.Join;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A Llama-family decoder built from Kiln's own ops, loaded from a Hugging Face model directory
 * ({@code config.json} with model_type llama, mistral or qwen2, and {@code model.safetensors} with
 * LlamaForCausalLM's names: {@code model.embed_tokens}, {@code model.layers.N.*}, {@code model.norm},
 * {@code lm_head} or a head tied to the embedding). Each layer: RMSNorm, q/k/v projections (biases
 * where the file has them, as Qwen2's), rotary position embedding (HF's rotate_half form, theta
 * from the config), grouped-query attention over the session's cache (query head h reads key/value
 * head h / (heads / kv heads)), output projection, residual; RMSNorm, SwiGLU MLP
 * (down(silu(gate(x)) * up(x))), residual. The float operations follow modeling_llama.py's order
 * (scores divided by sqrt(head size), RMSNorm as x * rsqrt(mean(x^2) + eps) then times the weight).
 * Linear weights stay in the file's [out, in] layout and are read through transposed views.
 * {@link WeightFormat}s as {@link Gpt2Decoder}. Not supported (a one-line error): rope_scaling
 * (Llama 3.1's long-context scaling); a Mistral sliding window limits the context to the window.
 */
public final class LlamaDecoder implements Decoder {
    private final int layers, heads, kvHeads, hd, hidden, ctx, vocab;
    private final float eps;
    private final Tensor embed, norm, head;                    // head: [hidden, vocab] (a transposed view)
    private final Tensor cos, sin;                             // [ctx, hd]
    private final Tensor[][] w;                                // per layer: ln1, q, k, v, o, ln2, gate, up, down ([in, out] views), qb, kb, vb (or null)
    private final NBitsVnni.Weights[][] quant;                 // per layer: q, k, v, o, gate, up, down
    private final NBitsVnni.Weights quantHead;
    private final HfCheckpoint file;
    private final java.util.List<Tensor> owned = new java.util.ArrayList<>();
    private final WeightFormat format;
    private final boolean bf16;

    private LlamaDecoder(HfCheckpoint f, WeightFormat format) {
        this.file = f;
        this.format = format;
        this.bf16 = format == WeightFormat.BF16;
        if (f.config.get("rope_scaling") != null)
            throw new IllegalArgumentException(f.dir + ": config.json sets rope_scaling, which Kiln's Llama does not support yet");
        vocab = f.intOf("vocab_size");
        hidden = f.intOf("hidden_size");
        layers = f.intOf("num_hidden_layers");
        heads = f.intOf("num_attention_heads");
        kvHeads = f.intOr("num_key_value_heads", heads);
        hd = f.intOr("head_dim", hidden / heads);
        int inner = f.intOf("intermediate_size");
        int window = f.intOr("sliding_window", Integer.MAX_VALUE);
        ctx = Math.min(f.intOf("max_position_embeddings"), window);
        eps = (float) f.doubleOr("rms_norm_eps", 1e-6);
        double theta = f.doubleOr("rope_theta", 10000.0);
        if (heads % kvHeads != 0) throw new IllegalArgumentException(f.dir + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        if (hd % 2 != 0) throw new IllegalArgumentException(f.dir + ": head size " + hd + " is odd (rotary embedding needs pairs)");
        embed = f.get("model.embed_tokens.weight", vocab, hidden);
        norm = f.get("model.norm.weight", hidden);
        boolean tied = f.config.get("tie_word_embeddings") instanceof Boolean b && b || !f.has("lm_head.weight");
        head = own((tied ? embed : f.get("lm_head.weight", vocab, hidden)).transpose(0, 1));
        w = new Tensor[layers][];
        quant = new NBitsVnni.Weights[layers][];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            w[l] = new Tensor[] {
                    f.get(p + "input_layernorm.weight", hidden),
                    own(f.get(p + "self_attn.q_proj.weight", heads * hd, hidden).transpose(0, 1)),
                    own(f.get(p + "self_attn.k_proj.weight", kvHeads * hd, hidden).transpose(0, 1)),
                    own(f.get(p + "self_attn.v_proj.weight", kvHeads * hd, hidden).transpose(0, 1)),
                    own(f.get(p + "self_attn.o_proj.weight", hidden, heads * hd).transpose(0, 1)),
                    f.get(p + "post_attention_layernorm.weight", hidden),
                    own(f.get(p + "mlp.gate_proj.weight", inner, hidden).transpose(0, 1)),
                    own(f.get(p + "mlp.up_proj.weight", inner, hidden).transpose(0, 1)),
                    own(f.get(p + "mlp.down_proj.weight", hidden, inner).transpose(0, 1)),
                    f.has(p + "self_attn.q_proj.bias") ? f.get(p + "self_attn.q_proj.bias", heads * hd) : null,
                    f.has(p + "self_attn.k_proj.bias") ? f.get(p + "self_attn.k_proj.bias", kvHeads * hd) : null,
                    f.has(p + "self_attn.v_proj.bias") ? f.get(p + "self_attn.v_proj.bias", kvHeads * hd) : null};
            if (format.bits() != 0) {
                NBitsVnni.Weights[] q = new NBitsVnni.Weights[7];
                int[] at = {1, 2, 3, 4, 6, 7, 8};
                for (int i = 0; i < 7; i++) q[i] = HfCheckpoint.quantize(w[l][at[i]], format);
                quant[l] = q;
            }
        }
        quantHead = HfCheckpoint.quantize(head, format);
        // rotary tables as modeling_llama computes them in float32: inv_freq = 1 / theta^(2i / hd), angle = pos * inv_freq
        float[] c = new float[ctx * hd], s = new float[ctx * hd];
        for (int i = 0; i < hd / 2; i++) {
            float inv = 1.0f / (float) Math.pow(theta, (float) (2 * i) / hd);
            for (int pos = 0; pos < ctx; pos++) {
                float a = pos * inv;
                c[pos * hd + i] = c[pos * hd + i + hd / 2] = (float) Math.cos(a);
                s[pos * hd + i] = s[pos * hd + i + hd / 2] = (float) Math.sin(a);
            }
        }
        cos = own(Tensor.fromArray(c, ctx, hd));
        sin = own(Tensor.fromArray(s, ctx, hd));
    }

    private Tensor own(Tensor t) {
        Tensor e = Scope.escape(t);
        owned.add(e);
        return e;
    }

    /** Loads {@code DIR/config.json} and {@code DIR/model.safetensors} with the given weight format. */
    public static LlamaDecoder load(Path dir, WeightFormat format) throws IOException {
        HfCheckpoint f = HfCheckpoint.open(dir, "llama", "mistral", "qwen2");
        try {
            return new LlamaDecoder(f, format);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** The weight format the decode steps use. */
    public WeightFormat format() { return format; }

    @Override public int contextLength() { return ctx; }

    @Override public int layers() { return layers; }

    @Override public Session newSession() { return new LlamaSession(); }

    @Override public void close() {
        owned.forEach(Tensor::close);
        file.close();
    }

    private final class LlamaSession implements Session {
        private final Tensor[] kCache = new Tensor[layers], vCache = new Tensor[layers];   // [kv heads, ctx, hd], keys rotated
        private int length;

        LlamaSession() {
            for (int l = 0; l < layers; l++) {
                kCache[l] = Scope.escape(Tensor.uninitialized(Backends.cpu(), DType.F32, kvHeads, ctx, hd));
                vCache[l] = Scope.escape(Tensor.uninitialized(Backends.cpu(), DType.F32, kvHeads, ctx, hd));
            }
        }

        @Override public int length() { return length; }

        @Override
        public float[] step(int[] ids) {
            int n = ids.length, total = length + n, rep = heads / kvHeads;
            if (n == 0) throw new IllegalArgumentException("a step needs at least one token");
            if (total > ctx) throw new IllegalArgumentException("the sequence would hold " + total + " tokens; the context holds " + ctx);
            for (int id : ids) if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
            try (Scope sc = Scope.open()) {
                long[] lid = new long[n];
                for (int i = 0; i < n; i++) lid[i] = ids[i];
                Tensor x = Indexing.indexSelect(embed, 0, Tensor.fromArray(lid, n));              // [n, hidden]
                Tensor c = cos.narrow(0, length, n).reshape(n, 1, hd), s = sin.narrow(0, length, n).reshape(n, 1, hd);
                Tensor mask = null;
                if (n > 1) {                                   // causal: query i sees keys 0 .. length + i
                    float[] m = new float[n * total];
                    for (int i = 0; i < n; i++) for (int j = length + i + 1; j < total; j++) m[i * total + j] = Float.NEGATIVE_INFINITY;
                    mask = Tensor.fromArray(m, n, total);
                }
                Tensor scale = Tensor.scalar((float) Math.sqrt(hd));
                boolean quantStep = n <= HfCheckpoint.QUANT_ROWS;
                for (int l = 0; l < layers; l++) {
                    Tensor[] b = w[l];
                    NBitsVnni.Weights[] qw = quantStep ? quant[l] : null;
                    Tensor h = rmsNorm(x, b[0]);
                    Tensor q = rope(lin(h, b[1], qw, 0, b[9], null).reshape(n, heads, hd), c, s);
                    Tensor k = rope(lin(h, b[2], qw, 1, b[10], null).reshape(n, kvHeads, hd), c, s);
                    Tensor v = lin(h, b[3], qw, 2, b[11], null).reshape(n, kvHeads, hd);
                    kCache[l].narrow(1, length, n).copyFrom(k.permute(1, 0, 2));
                    vCache[l].narrow(1, length, n).copyFrom(v.permute(1, 0, 2));
                    // query heads grouped by the key/value head they read: [kv, rep * n, hd]
                    Tensor qg = q.permute(1, 0, 2).contiguous().reshape(kvHeads, rep * n, hd);
                    Tensor kt = kCache[l].narrow(1, 0, total).transpose(1, 2);                    // [kv, hd, total]
                    Tensor scores = qg.matmul(kt).div(scale);                                      // [kv, rep * n, total]
                    if (mask != null) scores = scores.reshape(kvHeads, rep, n, total).add(mask).reshape(kvHeads, rep * n, total);
                    Tensor att = scores.softmax(-1).matmul(vCache[l].narrow(1, 0, total));         // [kv, rep * n, hd]
                    Tensor merged = att.reshape(heads, n, hd).permute(1, 0, 2).contiguous().reshape(n, heads * hd);
                    x = x.add(lin(merged, b[4], qw, 3, null, null));
                    Tensor h2 = rmsNorm(x, b[5]);
                    Tensor gate = lin(h2, b[6], qw, 4, null, UnaryOp.SILU);
                    x = x.add(lin(gate.mul(lin(h2, b[7], qw, 5, null, null)), b[8], qw, 6, null, null));
                }
                Tensor last = rmsNorm(x.narrow(0, n - 1, 1), norm);
                float[] logits = HfCheckpoint.linear(last, head, quantStep ? quantHead : null, null, null, bf16).toFloatArray();
                length = total;
                return logits;
            }
        }

        /**
         * A linear layer. A float32 step of up to QUANT_ROWS tokens runs one matrix-vector product per
         * row: the weights are [out, in] views read in place, and the GEMM would pack (transpose) and
         * keep a copy of every weight for a short prompt (a 1.1B model: 14 s and 4.4 GB more for an
         * 11-token prompt, against about one weight pass per token this way).
         */
        private Tensor lin(Tensor a, Tensor weight, NBitsVnni.Weights[] qw, int i, Tensor bias, UnaryOp act) {
            int rows = a.size(0);
            if (qw != null || bf16 || rows == 1 || rows > HfCheckpoint.QUANT_ROWS)
                return HfCheckpoint.linear(a, weight, qw == null ? null : qw[i], bias, act, bf16);
            Tensor[] out = new Tensor[rows];
            for (int r = 0; r < rows; r++) out[r] = HfCheckpoint.linear(a.narrow(0, r, 1), weight, null, bias, act, false);
            return Join.cat(out, 0);
        }

        /** x * rsqrt(mean(x^2) + eps) * weight over the last axis. */
        private Tensor rmsNorm(Tensor x, Tensor weight) {
            Tensor r = x.mul(x).mean(new int[] {-1}, true).add(eps).rsqrt();
            return weight.mul(x.mul(r));
        }

        /** t [n, heads, hd] * cos + rotate_half(t) * sin, cos/sin [n, 1, hd]. */
        private Tensor rope(Tensor t, Tensor c, Tensor s) {
            int half = hd / 2;
            Tensor rot = Join.cat(new Tensor[] {t.narrow(2, half, half).neg(), t.narrow(2, 0, half)}, 2);
            return t.mul(c).add(rot.mul(s));
        }

        @Override
        public void close() {
            for (Tensor t : kCache) if (t != null) t.close();
            for (Tensor t : vCache) if (t != null) t.close();
        }
    }
}
