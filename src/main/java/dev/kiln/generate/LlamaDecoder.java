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
import java.util.Map;

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
 * {@link WeightFormat}s as {@link Gpt2Decoder}. The config's rope_scaling may be "llama3" (Llama
 * 3.1/3.2's long-context frequencies), "linear" or "default" ({@link RopeScaling}); the other kinds
 * (dynamic, yarn, longrope) are a one-line error. A Mistral sliding window limits the context to the
 * window.
 */
public final class LlamaDecoder implements Decoder {
    private final int layers, heads, kvHeads, hd, hidden, ctx, vocab;
    private final float eps;
    private final Tensor embed, norm, head;                    // head: [hidden, vocab] (a transposed view), or null (quantized only)
    private final Tensor cos, sin;                             // [ctx, hd]
    private final Tensor[][] w;                                // per layer: ln1, q, k, v, o, ln2, gate, up, down ([in, out] views or null), qb, kb, vb (or null)
    private final NBitsVnni.Weights[][] quant;                 // per layer: q, k, v, o, gate, up, down (null entries: float)
    private final NBitsVnni.Weights quantHead;
    private final AutoCloseable file;
    private final java.util.List<Tensor> owned;
    private final WeightFormat format;
    private final boolean bf16, interleaved;

    /** Sizes and hyper-parameters, wherever they were read from. */
    record Shape(int vocab, int hidden, int layers, int heads, int kvHeads, int hd, int inner, int ctx, float eps, double theta,
                 RopeScaling rope, String source) {
        Shape {
            if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
                throw new IllegalArgumentException(source + ": " + heads + " attention heads are not a multiple of " + kvHeads + " key/value heads");
            if (hd % 2 != 0) throw new IllegalArgumentException(source + ": head size " + hd + " is odd (rotary embedding needs pairs)");
        }
    }

    /**
     * The decoder from its parts: w's linear weights may be null where quant holds the layer's
     * only copy (a GGUF file's Q8_0 / Q4_0 tensors); interleaved: rotary embedding on adjacent pairs
     * (GGML's layout, whose q/k rows llama.cpp's converter permutes) instead of rotate_half's halves.
     */
    private LlamaDecoder(Shape sh, Tensor embed, Tensor norm, Tensor head, Tensor[][] w, NBitsVnni.Weights[][] quant, NBitsVnni.Weights quantHead,
                         boolean interleaved, AutoCloseable file, java.util.List<Tensor> owned, WeightFormat format) {
        this.vocab = sh.vocab();
        this.hidden = sh.hidden();
        this.layers = sh.layers();
        this.heads = sh.heads();
        this.kvHeads = sh.kvHeads();
        this.hd = sh.hd();
        this.ctx = sh.ctx();
        this.eps = sh.eps();
        this.embed = embed;
        this.norm = norm;
        this.head = head;
        this.w = w;
        this.quant = quant;
        this.quantHead = quantHead;
        this.interleaved = interleaved;
        this.file = file;
        this.owned = owned;
        this.format = format;
        this.bf16 = format == WeightFormat.BF16;
        // rotary tables as modeling_llama computes them in float32: inv_freq = 1 / theta^(2i / hd), angle = pos * inv_freq;
        // entry j of a row holds pair i's value: j = i and i + hd/2 (rotate_half), or j = 2i and 2i + 1 (interleaved)
        float[] c = new float[ctx * hd], s = new float[ctx * hd];
        float[] invFreq = RopeScaling.invFreq(sh.theta(), hd, sh.rope());
        for (int i = 0; i < hd / 2; i++) {
            float inv = invFreq[i];
            int j0 = interleaved ? 2 * i : i, j1 = interleaved ? 2 * i + 1 : i + hd / 2;
            for (int pos = 0; pos < ctx; pos++) {
                float a = pos * inv;
                c[pos * hd + j0] = c[pos * hd + j1] = (float) Math.cos(a);
                s[pos * hd + j0] = s[pos * hd + j1] = (float) Math.sin(a);
            }
        }
        cos = own(owned, Tensor.fromArray(c, ctx, hd));
        sin = own(owned, Tensor.fromArray(s, ctx, hd));
    }

    private static Tensor own(java.util.List<Tensor> owned, Tensor t) {
        Tensor e = Scope.escape(t);
        owned.add(e);
        return e;
    }

    /** From a Hugging Face checkpoint (LlamaForCausalLM names, [out, in] weights read through transposed views). */
    private static LlamaDecoder fromHf(HfCheckpoint f, WeightFormat format) {
        int hidden = f.intOf("hidden_size"), heads = f.intOf("num_attention_heads");
        Shape sh = new Shape(f.intOf("vocab_size"), hidden, f.intOf("num_hidden_layers"), heads, f.intOr("num_key_value_heads", heads),
                f.intOr("head_dim", hidden / heads), f.intOf("intermediate_size"),
                Math.min(f.intOf("max_position_embeddings"), f.intOr("sliding_window", Integer.MAX_VALUE)),
                (float) f.doubleOr("rms_norm_eps", 1e-6), f.doubleOr("rope_theta", 10000.0),
                RopeScaling.of(f.config.get("rope_scaling"), f.dir.resolve("config.json").toString()), f.dir.toString());
        java.util.List<Tensor> owned = new java.util.ArrayList<>();
        int vocab = sh.vocab(), hd = sh.hd(), inner = sh.inner();
        Tensor embed = f.get("model.embed_tokens.weight", vocab, hidden), norm = f.get("model.norm.weight", hidden);
        boolean tied = f.config.get("tie_word_embeddings") instanceof Boolean b && b || !f.has("lm_head.weight");
        Tensor head = own(owned, (tied ? embed : f.get("lm_head.weight", vocab, hidden)).transpose(0, 1));
        Tensor[][] w = new Tensor[sh.layers()][];
        NBitsVnni.Weights[][] quant = new NBitsVnni.Weights[sh.layers()][];
        for (int l = 0; l < sh.layers(); l++) {
            String p = "model.layers." + l + ".";
            w[l] = new Tensor[] {
                    f.get(p + "input_layernorm.weight", hidden),
                    own(owned, f.get(p + "self_attn.q_proj.weight", heads * hd, hidden).transpose(0, 1)),
                    own(owned, f.get(p + "self_attn.k_proj.weight", sh.kvHeads() * hd, hidden).transpose(0, 1)),
                    own(owned, f.get(p + "self_attn.v_proj.weight", sh.kvHeads() * hd, hidden).transpose(0, 1)),
                    own(owned, f.get(p + "self_attn.o_proj.weight", hidden, heads * hd).transpose(0, 1)),
                    f.get(p + "post_attention_layernorm.weight", hidden),
                    own(owned, f.get(p + "mlp.gate_proj.weight", inner, hidden).transpose(0, 1)),
                    own(owned, f.get(p + "mlp.up_proj.weight", inner, hidden).transpose(0, 1)),
                    own(owned, f.get(p + "mlp.down_proj.weight", hidden, inner).transpose(0, 1)),
                    f.has(p + "self_attn.q_proj.bias") ? f.get(p + "self_attn.q_proj.bias", heads * hd) : null,
                    f.has(p + "self_attn.k_proj.bias") ? f.get(p + "self_attn.k_proj.bias", sh.kvHeads() * hd) : null,
                    f.has(p + "self_attn.v_proj.bias") ? f.get(p + "self_attn.v_proj.bias", sh.kvHeads() * hd) : null};
            quant[l] = quantizeLayer(w[l], format);
        }
        return new LlamaDecoder(sh, embed, norm, head, w, quant, HfCheckpoint.quantize(head, format), false, f::close, owned, format);
    }

    /** The layer's seven linear weights quantized for the format (entries null for the float formats or a missing float weight). */
    private static NBitsVnni.Weights[] quantizeLayer(Tensor[] w, WeightFormat format) {
        NBitsVnni.Weights[] q = new NBitsVnni.Weights[7];
        int[] at = {1, 2, 3, 4, 6, 7, 8};
        for (int i = 0; i < 7; i++) q[i] = w[at[i]] == null ? null : HfCheckpoint.quantize(w[at[i]], format);
        return q;
    }

    /**
     * From a GGUF file of general.architecture llama (llama.cpp's tensor names and metadata keys):
     * F32 / F16 / BF16 tensors as float (quantized further for int8 / int4), Q8_0 and Q4_0 linear
     * weights used as they are on the int8 matrix-vector kernels (their blocks of 32 with one scale
     * are that kernel's layout), rotary embedding on interleaved pairs as GGML applies it.
     */
    static LlamaDecoder fromGguf(dev.kiln.io.Gguf g, WeightFormat format) throws dev.kiln.io.KilnFormatException {
        Map<String, Object> m = g.metadata();
        String src = g.file().toString();
        if (!"llama".equals(m.get("general.architecture")))
            throw new dev.kiln.io.KilnFormatException(src + ": general.architecture " + dev.kiln.io.Gguf.printable(m.get("general.architecture")) + " is not llama");
        int hidden = ggufInt(m, src, "llama.embedding_length"), heads = ggufInt(m, src, "llama.attention.head_count");
        dev.kiln.io.Gguf.TensorInfo te = g.info("token_embd.weight");
        Shape sh = new Shape(te.shape()[0], hidden, ggufInt(m, src, "llama.block_count"), heads,
                m.containsKey("llama.attention.head_count_kv") ? ggufInt(m, src, "llama.attention.head_count_kv") : heads, hidden / heads,
                ggufInt(m, src, "llama.feed_forward_length"), ggufInt(m, src, "llama.context_length"),
                m.get("llama.attention.layer_norm_rms_epsilon") instanceof Double e ? e.floatValue() : 1e-5f,
                m.get("llama.rope.freq_base") instanceof Double b ? b : 10000.0, null, src);
        if (m.get("llama.rope.scaling.type") instanceof String t && !t.equals("none"))
            throw new dev.kiln.io.KilnFormatException(src + ": llama.rope.scaling.type " + dev.kiln.io.Gguf.printable(t) + " is not supported yet");
        java.util.List<Tensor> owned = new java.util.ArrayList<>();
        Tensor embed = own(owned, ggufTensor(g, "token_embd.weight", sh.vocab(), hidden));
        Tensor norm = own(owned, ggufTensor(g, "output_norm.weight", hidden));
        String headName = g.tensors().containsKey("output.weight") ? "output.weight" : "token_embd.weight";
        Tensor[][] w = new Tensor[sh.layers()][];
        NBitsVnni.Weights[][] quant = new NBitsVnni.Weights[sh.layers()][];
        String[] lin = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        int kv = sh.kvHeads() * sh.hd();
        int[][] shapes = {{heads * sh.hd(), hidden}, {kv, hidden}, {kv, hidden}, {hidden, heads * sh.hd()},
                {sh.inner(), hidden}, {sh.inner(), hidden}, {hidden, sh.inner()}};
        for (int l = 0; l < sh.layers(); l++) {
            String p = "blk." + l + ".";
            Tensor[] lw = new Tensor[12];
            NBitsVnni.Weights[] q = new NBitsVnni.Weights[7];
            lw[0] = own(owned, ggufTensor(g, p + "attn_norm.weight", hidden));
            lw[5] = own(owned, ggufTensor(g, p + "ffn_norm.weight", hidden));
            int[] at = {1, 2, 3, 4, 6, 7, 8};
            for (int i = 0; i < 7; i++) {
                dev.kiln.io.Gguf.TensorInfo t = ggufInfo(g, p + lin[i] + ".weight", shapes[i]);
                if (t.type() == dev.kiln.io.Gguf.Q8_0 || t.type() == dev.kiln.io.Gguf.Q4_0) {
                    q[i] = ggufBlocks(g, t);
                } else {
                    Tensor f = own(owned, g.f32(t));
                    lw[at[i]] = own(owned, f.transpose(0, 1));
                    q[i] = HfCheckpoint.quantize(lw[at[i]], format);
                }
            }
            w[l] = lw;
            quant[l] = q;
        }
        dev.kiln.io.Gguf.TensorInfo ht = ggufInfo(g, headName, new int[] {sh.vocab(), hidden});
        Tensor head = null;
        NBitsVnni.Weights quantHead;
        if (ht.type() == dev.kiln.io.Gguf.Q8_0 || ht.type() == dev.kiln.io.Gguf.Q4_0) {
            quantHead = ggufBlocks(g, ht);
        } else {
            Tensor f = headName.equals("token_embd.weight") ? embed : own(owned, g.f32(ht));
            head = own(owned, f.transpose(0, 1));
            quantHead = HfCheckpoint.quantize(head, format);
        }
        return new LlamaDecoder(sh, embed, norm, head, w, quant, quantHead, true, g, owned, format);
    }

    private static int ggufInt(Map<String, Object> m, String src, String key) throws dev.kiln.io.KilnFormatException {
        if (m.get(key) instanceof Long v && v > 0 && v <= Integer.MAX_VALUE) return (int) (long) v;
        throw new dev.kiln.io.KilnFormatException(src + ": metadata " + key + " is missing or not a positive integer");
    }

    private static dev.kiln.io.Gguf.TensorInfo ggufInfo(dev.kiln.io.Gguf g, String name, int[] shape) throws dev.kiln.io.KilnFormatException {
        dev.kiln.io.Gguf.TensorInfo t = g.info(name);
        if (!java.util.Arrays.equals(t.shape(), shape))
            throw new dev.kiln.io.KilnFormatException(g.file() + ": tensor " + name + " has shape " + java.util.Arrays.toString(t.shape())
                    + ", expected " + java.util.Arrays.toString(shape));
        return t;
    }

    /** A float tensor of the expected shape (converted from F16 / BF16 / Q8_0 / Q4_0 where stored so). */
    private static Tensor ggufTensor(dev.kiln.io.Gguf g, String name, int... shape) throws dev.kiln.io.KilnFormatException {
        return g.f32(ggufInfo(g, name, shape));
    }

    /** A Q8_0 / Q4_0 weight [out, in] in {@link NBitsVnni}'s layout: the same blocks of 32, codes offset to unsigned. */
    private static NBitsVnni.Weights ggufBlocks(dev.kiln.io.Gguf g, dev.kiln.io.Gguf.TensorInfo t) {
        boolean q4 = t.type() == dev.kiln.io.Gguf.Q4_0;
        int out = t.shape()[0], in = t.shape()[1], subs = in / 32, nsub = NBitsVnni.subBlocks(in), per = q4 ? 16 : 32, bs = q4 ? 18 : 34;
        java.lang.foreign.MemorySegment blocks = g.blocks(t);
        byte[] codes = new byte[out * nsub * per];
        float[] ws = new float[out * nsub];
        for (int j = 0; j < out; j++) {
            for (int s = 0; s < subs; s++) {
                long at = ((long) j * subs + s) * bs;
                ws[j * nsub + s] = dev.kiln.io.Gguf.scale(blocks, at);
                int o = (j * nsub + s) * per;
                if (q4) java.lang.foreign.MemorySegment.copy(blocks, java.lang.foreign.ValueLayout.JAVA_BYTE, at + 2, codes, o, 16);   // byte i: q_i + 8 | (q_{i+16} + 8) << 4
                else for (int i = 0; i < 32; i++) codes[o + i] = (byte) (blocks.get(java.lang.foreign.ValueLayout.JAVA_BYTE, at + 2 + i) + 128);
            }
            for (int s = subs; s < nsub; s++) java.util.Arrays.fill(codes, (j * nsub + s) * per, (j * nsub + s + 1) * per, (byte) (q4 ? 0x88 : 0x80));
        }
        return new NBitsVnni.Weights(q4 ? 4 : 8, out, nsub, codes, ws, null, q4 ? 8 : 128);
    }

    /** Loads {@code DIR/config.json} and {@code DIR/model.safetensors} with the given weight format. */
    public static LlamaDecoder load(Path dir, WeightFormat format) throws IOException {
        HfCheckpoint f = HfCheckpoint.open(dir, "llama", "mistral", "qwen2");
        try {
            return fromHf(f, format);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** Loads a GGUF file (Llama architecture); format applies to its float linear weights. */
    public static LlamaDecoder loadGguf(Path file, WeightFormat format) throws IOException {
        dev.kiln.io.Gguf g = dev.kiln.io.Gguf.open(file);
        try {
            return fromGguf(g, format);
        } catch (IOException | RuntimeException e) {
            g.close();
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
        HfCheckpoint.close(quant, quantHead);
        try {
            file.close();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** One layer's attention for the rows of a step: (layer, q [n, heads, hd], k, v [n, kv heads, hd]) to merged heads [n, heads * hd]. */
    private interface Attention { Tensor apply(int layer, Tensor q, Tensor k, Tensor v); }

    /**
     * The blocks over the rows x [n, hidden] (in the caller's scope), c and s the rows' rotary
     * cos/sin [n, 1, hd]: RMSNorm, q/k/v projections and rotation, attention (one session, or each
     * row's own), output projection, residual; RMSNorm, SwiGLU MLP, residual.
     */
    private Tensor blocks(Tensor x, Tensor c, Tensor s, Attention attention) {
        int n = x.size(0);
        for (int l = 0; l < layers; l++) {
            Tensor[] b = w[l];
            NBitsVnni.Weights[] qw = quant[l];
            Tensor h = rmsNorm(x, b[0]);
            Tensor q = rope(lin(h, b[1], qw, 0, b[9], null).reshape(n, heads, hd), c, s);
            Tensor k = rope(lin(h, b[2], qw, 1, b[10], null).reshape(n, kvHeads, hd), c, s);
            Tensor v = lin(h, b[3], qw, 2, b[11], null).reshape(n, kvHeads, hd);
            Tensor merged = attention.apply(l, q, k, v);
            x = x.add(lin(merged, b[4], qw, 3, null, null));
            Tensor h2 = rmsNorm(x, b[5]);
            Tensor gate = lin(h2, b[6], qw, 4, null, UnaryOp.SILU);
            x = x.add(lin(gate.mul(lin(h2, b[7], qw, 5, null, null)), b[8], qw, 6, null, null));
        }
        return x;
    }

    /** The logits of each row of x [rows, hidden] (final RMSNorm, then the head); n: the step's tokens (the quantized head up to QUANT_ROWS). */
    private float[][] logits(Tensor x, int n) {
        int rows = x.size(0);
        float[] all = HfCheckpoint.linear(rmsNorm(x, norm), head, n <= HfCheckpoint.QUANT_ROWS || head == null ? quantHead : null, null, null, bf16)
                .toFloatArray();
        float[][] out = new float[rows][];
        for (int r = 0; r < rows; r++) out[r] = java.util.Arrays.copyOfRange(all, r * vocab, (r + 1) * vocab);
        return out;
    }

    /**
     * One decode step for a batch of this decoder's sessions: the rows go through each linear layer
     * together and each attends over its own session's cache, at its own position. With int8/int4
     * weights each weight is read once for the batch ({@code NBitsVnni.gemvRows}); float32 weights
     * are still multiplied one row at a time (see {@link #lin}). Each sequence's logits equal its own
     * step's to float rounding.
     */
    @Override
    public float[][] stepAll(java.util.List<Session> sessions, int[] ids) {
        int b = ids.length;
        if (b == 1 && sessions.size() == 1) return new float[][] {sessions.get(0).step(ids)};
        LlamaSession[] ss = BatchSession.checked(this, sessions, ids, LlamaSession.class);
        long[] lid = BatchSession.longs(ids), pos = BatchSession.positions(ss);
        try (Scope sc = Scope.open()) {
            Tensor x = Indexing.indexSelect(embed, 0, Tensor.fromArray(lid, b));
            Tensor at = Tensor.fromArray(pos, b);
            Tensor c = Indexing.indexSelect(cos, 0, at).reshape(b, 1, hd), s = Indexing.indexSelect(sin, 0, at).reshape(b, 1, hd);
            Tensor y = blocks(x, c, s, (l, q, k, v) -> {
                Tensor[] merged = new Tensor[b];
                for (int i = 0; i < b; i++) merged[i] = ss[i].attendRow(l, q.narrow(0, i, 1), k.narrow(0, i, 1), v.narrow(0, i, 1));
                return Join.cat(merged, 0);
            });
            float[][] out = logits(y, b);
            for (LlamaSession g : ss) g.length++;
            return out;
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
        NBitsVnni.Weights q = qw == null ? null : qw[i];
        if (q != null || bf16 || rows == 1 || rows > HfCheckpoint.QUANT_ROWS)
            return HfCheckpoint.linear(a, weight, q, bias, act, bf16);
        Tensor[] out = new Tensor[rows];
        for (int r = 0; r < rows; r++) out[r] = HfCheckpoint.linear(a.narrow(0, r, 1), weight, null, bias, act, false);
        return Join.cat(out, 0);
    }
    /** x * rsqrt(mean(x^2) + eps) * weight over the last axis. */
    private Tensor rmsNorm(Tensor x, Tensor weight) {
        Tensor r = x.mul(x).mean(new int[] {-1}, true).add(eps).rsqrt();
        return weight.mul(x.mul(r));
    }

    /** t [n, heads, hd] * cos + rot(t) * sin, cos/sin [n, 1, hd]: rot is rotate_half, or (-x1, x0) per adjacent pair when interleaved. */
    private Tensor rope(Tensor t, Tensor c, Tensor s) {
        int half = hd / 2;
        Tensor rot;
        if (interleaved) {
            Tensor pairs = t.reshape(t.size(0), t.size(1), half, 2);
            rot = Join.cat(new Tensor[] {pairs.narrow(3, 1, 1).neg(), pairs.narrow(3, 0, 1)}, 3).reshape(t.size(0), t.size(1), hd);
        } else {
            rot = Join.cat(new Tensor[] {t.narrow(2, half, half).neg(), t.narrow(2, 0, half)}, 2);
        }
        return t.mul(c).add(rot.mul(s));
    }

    private final class LlamaSession implements BatchSession {
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
            int n = ids.length, total = length + n;
            if (n == 0) throw new IllegalArgumentException("a step needs at least one token");
            check(ids, total);
            try (Scope sc = Scope.open()) {
                Tensor x = HfCheckpoint.embed(embed, ids);                                        // [n, hidden]
                Tensor c = cos.narrow(0, length, n).reshape(n, 1, hd), s = sin.narrow(0, length, n).reshape(n, 1, hd);
                Tensor maskF = HfCheckpoint.causalMask(n, length);
                Tensor y = blocks(x, c, s, (l, q, k, v) -> attend(l, q, k, v, maskF));
                float[] logits = logits(y.narrow(0, n - 1, 1), n)[0];
                length = total;
                return logits;
            }
        }

        @Override public void check(int[] ids, int total) {
            if (total > ctx) throw new IllegalArgumentException("the sequence would hold " + total + " tokens; the context holds " + ctx);
            for (int id : ids) if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
        }

        Tensor attendRow(int l, Tensor q, Tensor k, Tensor v) { return attend(l, q, k, v, null); }

        /**
         * Attention of layer l for this session's n new tokens, q [n, heads, hd] and k, v [n, kv heads,
         * hd] (rotated): k and v go into the cache at the session's length, the queries attend over
         * the cache up to them (mask: a multi-token step's causal mask, or null); heads merged, [n, heads * hd].
         */
        private Tensor attend(int l, Tensor q, Tensor k, Tensor v, Tensor mask) {
            int n = q.size(0), total = length + n, rep = heads / kvHeads;
            kCache[l].narrow(1, length, n).copyFrom(k.permute(1, 0, 2));
            vCache[l].narrow(1, length, n).copyFrom(v.permute(1, 0, 2));
            // query heads grouped by the key/value head they read: [kv, rep * n, hd]
            Tensor qg = q.permute(1, 0, 2).contiguous().reshape(kvHeads, rep * n, hd);
            Tensor kt = kCache[l].narrow(1, 0, total).transpose(1, 2);                    // [kv, hd, total]
            Tensor scores = qg.matmul(kt).div(Tensor.scalar((float) Math.sqrt(hd)));        // [kv, rep * n, total]
            if (mask != null) scores = scores.reshape(kvHeads, rep, n, total).add(mask).reshape(kvHeads, rep * n, total);
            Tensor att = scores.softmax(-1).matmul(vCache[l].narrow(1, 0, total));         // [kv, rep * n, hd]
            return att.reshape(heads, n, hd).permute(1, 0, 2).contiguous().reshape(n, heads * hd);
        }

        @Override public Decoder decoder() { return LlamaDecoder.this; }

        @Override
        public void close() {
            for (Tensor t : kCache) if (t != null) t.close();
            for (Tensor t : vCache) if (t != null) t.close();
        }
    }
}
