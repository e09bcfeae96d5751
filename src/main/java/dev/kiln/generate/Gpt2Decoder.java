package dev.kiln.generate;

import dev.kiln.backend.cpu.NBitsVnni;
import dev.kiln.ops.Indexing;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * GPT-2 built from Kiln's own ops, loaded from a Hugging Face model directory ({@code config.json}
 * + {@code model.safetensors}; tensor names with or without the {@code transformer.} prefix,
 * Conv1D weights [in, out], the head tied to {@code wte} or a separate {@code lm_head.weight}).
 * Each block: LayerNorm, fused q/k/v projection, causal attention over the session's cache,
 * output projection, residual; LayerNorm, tanh-GELU MLP, residual. Linear layers run as one GEMM
 * with the bias (and GELU) applied as it stores. The cache is one buffer per layer, allocated for
 * the whole context when a session starts; a step writes only its new entries.
 *
 * <p>{@link WeightFormat}: with int8 or int4 the linear layers and the head are quantized at load
 * ({@link NBitsVnni#quantize}) and steps of up to {@value #QUANT_ROWS} tokens (decoding) multiply
 * with them; a longer step (a prompt's prefill) uses the float32 weights, which stay mapped from
 * the file.
 */
public final class Gpt2Decoder implements Decoder {
    private final int layers, heads, embd, ctx, vocab;
    private final float eps;
    private final Tensor wte, wpe, lnFw, lnFb, head;          // head: [embd, vocab]
    private final Tensor[][] blocks;                           // per layer: ln1 w,b, attn W,b, proj W,b, ln2 w,b, fc W,b, fcproj W,b
    private final List<Tensor> owned = new ArrayList<>();
    private final HfCheckpoint file;
    private final boolean bf16;
    private final WeightFormat format;
    private final NBitsVnni.Weights[][] quant;                 // per layer: attn, proj, fc, fcproj (null: float)
    private final NBitsVnni.Weights quantHead;
    /** Steps of at most this many tokens use the quantized weights (int8 / int4). */
    static final int QUANT_ROWS = HfCheckpoint.QUANT_ROWS;

    private Gpt2Decoder(HfCheckpoint f, WeightFormat format) {
        this.file = f;
        this.format = format;
        this.bf16 = format == WeightFormat.BF16;
        layers = f.intOf("n_layer");
        heads = f.intOf("n_head");
        embd = f.intOf("n_embd");
        vocab = f.intOf("vocab_size");
        ctx = f.config.get("n_ctx") instanceof Long c ? (int) (long) c : f.intOf("n_positions");
        eps = (float) f.doubleOr("layer_norm_epsilon", 1e-5);
        if (embd % heads != 0) throw new IllegalArgumentException(f.dir + ": n_embd " + embd + " is not a multiple of n_head " + heads);
        for (String k : List.copyOf(f.tensors.keySet()))     // names with or without the "transformer." prefix
            if (k.startsWith("transformer.")) f.tensors.put(k.substring("transformer.".length()), f.tensors.remove(k));
        wte = f.get("wte.weight", vocab, embd);
        wpe = f.get("wpe.weight", -1, embd);
        lnFw = f.get("ln_f.weight", embd);
        lnFb = f.get("ln_f.bias", embd);
        blocks = new Tensor[layers][];
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            blocks[l] = new Tensor[] {
                    f.get(p + "ln_1.weight", embd), f.get(p + "ln_1.bias", embd),
                    f.get(p + "attn.c_attn.weight", embd, 3 * embd), f.get(p + "attn.c_attn.bias", 3 * embd),
                    f.get(p + "attn.c_proj.weight", embd, embd), f.get(p + "attn.c_proj.bias", embd),
                    f.get(p + "ln_2.weight", embd), f.get(p + "ln_2.bias", embd),
                    f.get(p + "mlp.c_fc.weight", embd, -1), f.get(p + "mlp.c_fc.bias", -1),
                    f.get(p + "mlp.c_proj.weight", -1, embd), f.get(p + "mlp.c_proj.bias", embd)};
        }
        Tensor lm = f.has("lm_head.weight") ? f.get("lm_head.weight", vocab, embd) : wte;
        try (Tensor t = lm.transpose(0, 1)) {
            head = Scope.escape(t.contiguous());                // [embd, vocab], packed once by the GEMM
        }
        head.storage().seal();
        owned.add(head);
        quant = new NBitsVnni.Weights[layers][];
        if (format.bits() != 0) for (int l = 0; l < layers; l++)
            quant[l] = new NBitsVnni.Weights[] {HfCheckpoint.quantize(blocks[l][2], format), HfCheckpoint.quantize(blocks[l][4], format),
                    HfCheckpoint.quantize(blocks[l][8], format), HfCheckpoint.quantize(blocks[l][10], format)};
        quantHead = HfCheckpoint.quantize(head, format);
    }

    /** The weight format the decode steps use. */
    public WeightFormat format() { return format; }

    /** Loads {@code DIR/config.json} and {@code DIR/model.safetensors}. */
    public static Gpt2Decoder load(Path dir) throws IOException { return load(dir, WeightFormat.F32); }

    /**
     * The same with the linear layers' weights in the given format: bf16 multiplies in bf16 with
     * f32 sums (opt-in, about 1e-3 relative difference; half the weight bytes per token where the
     * CPU has AVX512-BF16); int8 / int4 quantize them for decode steps (see the class comment).
     */
    public static Gpt2Decoder load(Path dir, WeightFormat format) throws IOException {
        HfCheckpoint f = HfCheckpoint.open(dir, "gpt2");
        try {
            return new Gpt2Decoder(f, format);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    @Override public int contextLength() { return Math.min(ctx, wpe.size(0)); }

    @Override public int layers() { return layers; }

    @Override public Session newSession() { return new Gpt2Session(); }

    /** The attention of one layer for the rows of a step: (layer, qkv rows [n, 3 embd]) to merged heads [n, embd]. */
    private interface Attention { Tensor apply(int layer, Tensor qkv); }

    /**
     * The blocks over the rows x [n, embd] (in a scope the caller holds): LayerNorm, q/k/v
     * projection, attention (per the caller: one session, or each row's own session), output
     * projection, residual; LayerNorm, MLP, residual. Rows of up to {@value #QUANT_ROWS} use the
     * quantized weights when loaded so.
     */
    private Tensor blocks(Tensor x, int n, Attention attention) {
        for (int l = 0; l < layers; l++) {
            Tensor[] b = blocks[l];
            Tensor h = x.layerNorm(new int[] {embd}, b[0], b[1], eps);
            NBitsVnni.Weights[] qw = n <= QUANT_ROWS ? quant[l] : null;
            Tensor qkv = HfCheckpoint.linear(h, b[2], qw == null ? null : qw[0], b[3], null, bf16);               // [n, 3 embd]
            Tensor merged = attention.apply(l, qkv);
            x = x.add(HfCheckpoint.linear(merged, b[4], qw == null ? null : qw[1], b[5], null, bf16));
            Tensor h2 = x.layerNorm(new int[] {embd}, b[6], b[7], eps);
            Tensor f = HfCheckpoint.linear(h2, b[8], qw == null ? null : qw[2], b[9], UnaryOp.GELU_TANH, bf16);
            x = x.add(HfCheckpoint.linear(f, b[10], qw == null ? null : qw[3], b[11], null, bf16));
        }
        return x;
    }

    /** The logits of each row of x [rows, embd] (final LayerNorm, then the head; the quantized head when quantized is set). */
    private float[][] logits(Tensor x, boolean quantized) {
        int rows = x.size(0);
        float[] all = HfCheckpoint.linear(x.layerNorm(new int[] {embd}, lnFw, lnFb, eps), head, quantized ? quantHead : null,
                null, null, bf16).toFloatArray();
        float[][] out = new float[rows][];
        for (int r = 0; r < rows; r++) out[r] = java.util.Arrays.copyOfRange(all, r * vocab, (r + 1) * vocab);
        return out;
    }

    /**
     * One decode step for a batch of this decoder's sessions: the rows of all sequences go through
     * each linear layer together (the weights are read once per step, not once per sequence), and
     * each row attends over its own session's cache. Each sequence's logits equal its own step's
     * to float rounding (the batched products may add in another order).
     */
    @Override
    public float[][] stepAll(List<Session> sessions, int[] ids) {
        int b = ids.length;
        if (b == 1 && sessions.size() == 1) return new float[][] {sessions.get(0).step(ids)};
        Gpt2Session[] ss = BatchSession.checked(this, sessions, ids, Gpt2Session.class);
        long[] lid = BatchSession.longs(ids), pos = BatchSession.positions(ss);
        try (Scope s = Scope.open()) {
            Tensor x = Indexing.indexSelect(wte, 0, Tensor.fromArray(lid, b)).add(Indexing.indexSelect(wpe, 0, Tensor.fromArray(pos, b)));
            Tensor y = blocks(x, b, (l, qkv) -> {
                Tensor[] merged = new Tensor[b];
                for (int i = 0; i < b; i++) merged[i] = ss[i].attend(l, qkv.narrow(0, i, 1), null);
                return dev.kiln.ops.Join.cat(merged, 0);
            });
            float[][] out = logits(y, b <= QUANT_ROWS);
            for (Gpt2Session g : ss) g.length++;
            return out;
        }
    }

    @Override public void close() {
        owned.forEach(Tensor::close);
        HfCheckpoint.close(quant, quantHead);
        file.close();
    }

    private final class Gpt2Session implements BatchSession {
        private final Tensor[] kCache = new Tensor[layers], vCache = new Tensor[layers];   // [heads, ctx, headDim]
        private int length;

        Gpt2Session() {
            int hd = embd / heads;
            for (int l = 0; l < layers; l++) {
                kCache[l] = Scope.escape(Tensor.uninitialized(dev.kiln.backend.Backends.cpu(), DType.F32, heads, contextLength(), hd));
                vCache[l] = Scope.escape(Tensor.uninitialized(dev.kiln.backend.Backends.cpu(), DType.F32, heads, contextLength(), hd));
            }
        }

        @Override public int length() { return length; }

        @Override public Decoder decoder() { return Gpt2Decoder.this; }

        @Override
        public float[] step(int[] ids) {
            int n = ids.length, total = length + n;
            if (n == 0) throw new IllegalArgumentException("a step needs at least one token");
            check(ids, total);
            try (Scope s = Scope.open()) {
                Tensor x = HfCheckpoint.embed(wte, ids).add(wpe.narrow(0, length, n));   // [n, embd]
                Tensor maskF = HfCheckpoint.causalMask(n, length);
                Tensor last = blocks(x, n, (l, qkv) -> attend(l, qkv, maskF)).narrow(0, n - 1, 1);
                float[] logits = logits(last, n <= QUANT_ROWS)[0];
                length = total;
                return logits;
            }
        }

        @Override public void check(int[] ids, int total) {
            if (total > contextLength()) throw new IllegalArgumentException("the sequence would hold " + total + " tokens; the context holds " + contextLength());
            for (int id : ids) if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
        }

        /**
         * Attention of layer l for the n new tokens whose q/k/v rows are qkv [n, 3 embd]: their keys
         * and values go into the cache at this session's length, the queries attend over the
         * cache up to them (mask: the causal mask of a multi-token step, or null); the heads merged, [n, embd].
         */
        Tensor attend(int l, Tensor qkv, Tensor mask) {
            int n = qkv.size(0), hd = embd / heads, total = length + n;
            Tensor q = qkv.narrow(1, 0, embd).reshape(n, heads, hd).permute(1, 0, 2);          // [heads, n, hd]
            Tensor k = qkv.narrow(1, embd, embd).reshape(n, heads, hd).permute(1, 0, 2);
            Tensor v = qkv.narrow(1, 2 * embd, embd).reshape(n, heads, hd).permute(1, 0, 2);
            kCache[l].narrow(1, length, n).copyFrom(k);
            vCache[l].narrow(1, length, n).copyFrom(v);
            Tensor kt = kCache[l].narrow(1, 0, total).transpose(1, 2);                        // [heads, hd, total]
            Tensor scores = q.matmul(kt).mul(Tensor.scalar((float) (1.0 / Math.sqrt(hd))));    // [heads, n, total]
            if (mask != null) scores = scores.add(mask);
            Tensor att = scores.softmax(-1).matmul(vCache[l].narrow(1, 0, total));            // [heads, n, hd]
            return att.permute(1, 0, 2).contiguous().reshape(n, embd);
        }

        @Override
        public void close() {
            for (Tensor t : kCache) if (t != null) t.close();
            for (Tensor t : vCache) if (t != null) t.close();
        }
    }
}
