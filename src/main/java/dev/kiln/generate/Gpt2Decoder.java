package dev.kiln.generate;

import dev.kiln.backend.GemmEpilogue;
import dev.kiln.backend.cpu.NBitsVnni;
import dev.kiln.io.Json;
import dev.kiln.io.Safetensors;
import dev.kiln.ops.Indexing;
import dev.kiln.ops.MatMul;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
    private final boolean bf16;
    private final WeightFormat format;
    private final NBitsVnni.Weights[][] quant;                 // per layer: attn, proj, fc, fcproj (null: float)
    private final NBitsVnni.Weights quantHead;
    /** Steps of at most this many tokens use the quantized weights (int8 / int4). */
    static final int QUANT_ROWS = 16;

    private Gpt2Decoder(Path dir, Map<String, Object> cfg, Map<String, Tensor> w, WeightFormat format) {
        this.format = format;
        this.bf16 = format == WeightFormat.BF16;
        String src = dir.toString();
        layers = intOf(cfg, src, "n_layer");
        heads = intOf(cfg, src, "n_head");
        embd = intOf(cfg, src, "n_embd");
        vocab = intOf(cfg, src, "vocab_size");
        ctx = cfg.get("n_ctx") instanceof Long c ? (int) (long) c : intOf(cfg, src, "n_positions");
        eps = cfg.get("layer_norm_epsilon") instanceof Number n ? n.floatValue() : 1e-5f;
        if (embd % heads != 0) throw new IllegalArgumentException(src + ": n_embd " + embd + " is not a multiple of n_head " + heads);
        wte = get(w, src, "wte.weight", vocab, embd);
        wpe = get(w, src, "wpe.weight", -1, embd);
        lnFw = get(w, src, "ln_f.weight", embd);
        lnFb = get(w, src, "ln_f.bias", embd);
        blocks = new Tensor[layers][];
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            blocks[l] = new Tensor[] {
                    get(w, src, p + "ln_1.weight", embd), get(w, src, p + "ln_1.bias", embd),
                    get(w, src, p + "attn.c_attn.weight", embd, 3 * embd), get(w, src, p + "attn.c_attn.bias", 3 * embd),
                    get(w, src, p + "attn.c_proj.weight", embd, embd), get(w, src, p + "attn.c_proj.bias", embd),
                    get(w, src, p + "ln_2.weight", embd), get(w, src, p + "ln_2.bias", embd),
                    get(w, src, p + "mlp.c_fc.weight", embd, -1), get(w, src, p + "mlp.c_fc.bias", -1),
                    get(w, src, p + "mlp.c_proj.weight", -1, embd), get(w, src, p + "mlp.c_proj.bias", embd)};
        }
        Tensor lm = w.containsKey("lm_head.weight") ? get(w, src, "lm_head.weight", vocab, embd) : wte;
        try (Tensor t = lm.transpose(0, 1)) {
            head = Scope.escape(t.contiguous());                // [embd, vocab], packed once by the GEMM
        }
        head.storage().seal();
        owned.add(head);
        int bits = format.bits();
        quant = new NBitsVnni.Weights[layers][];
        if (bits != 0) for (int l = 0; l < layers; l++)
            quant[l] = new NBitsVnni.Weights[] {NBitsVnni.quantize(blocks[l][2], bits), NBitsVnni.quantize(blocks[l][4], bits),
                    NBitsVnni.quantize(blocks[l][8], bits), NBitsVnni.quantize(blocks[l][10], bits)};
        quantHead = bits == 0 ? null : NBitsVnni.quantize(head, bits);
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
        Path cfgFile = dir.resolve("config.json"), weights = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(cfgFile)) throw new NoSuchFileException(cfgFile.toString(), null, "not a Hugging Face model directory (no config.json)");
        if (!Files.isRegularFile(weights)) throw new NoSuchFileException(weights.toString(), null, "no model.safetensors (sharded checkpoints are not supported yet)");
        if (!(Json.parse(Files.readString(cfgFile, StandardCharsets.UTF_8), cfgFile.toString()) instanceof Map<?, ?> m))
            throw new IllegalArgumentException(cfgFile + ": not a JSON object");
        @SuppressWarnings("unchecked") Map<String, Object> cfg = (Map<String, Object>) m;
        if (!"gpt2".equals(cfg.get("model_type")))
            throw new IllegalArgumentException(cfgFile + ": model_type " + cfg.get("model_type") + " is not supported natively (gpt2; others through ONNX)");
        Safetensors.Contents c = Safetensors.read(weights);
        Map<String, Tensor> w = new java.util.HashMap<>();
        for (Map.Entry<String, Tensor> e : c.tensors().entrySet()) {
            String k = e.getKey().startsWith("transformer.") ? e.getKey().substring("transformer.".length()) : e.getKey();
            Tensor t = e.getValue();
            t.storage().seal();                                  // weights: constant, so the GEMM packs them once
            w.put(k, t);
        }
        try {
            Gpt2Decoder d = new Gpt2Decoder(dir, cfg, w, format);
            d.owned.addAll(c.tensors().values());
            return d;
        } catch (RuntimeException e) {
            c.tensors().values().forEach(Tensor::close);
            throw e;
        }
    }

    private static int intOf(Map<String, Object> cfg, String src, String key) {
        if (cfg.get(key) instanceof Long v && v > 0 && v <= Integer.MAX_VALUE) return (int) (long) v;
        throw new IllegalArgumentException(src + ": config.json has no positive integer " + key);
    }

    /** A float32 weight of the expected shape (-1: any size). */
    private static Tensor get(Map<String, Tensor> w, String src, String name, int... shape) {
        Tensor t = w.get(name);
        if (t == null) throw new IllegalArgumentException(src + ": model.safetensors has no tensor " + name);
        if (t.dtype() != DType.F32) throw new IllegalArgumentException(src + ": " + name + " is " + t.dtype() + " (float32 only so far)");
        int[] s = t.shape();
        boolean ok = s.length == shape.length;
        for (int i = 0; ok && i < s.length; i++) ok = shape[i] < 0 || s[i] == shape[i];
        if (!ok) throw new IllegalArgumentException(src + ": " + name + " has shape " + java.util.Arrays.toString(s) + ", expected " + java.util.Arrays.toString(shape));
        return t;
    }

    @Override public int contextLength() { return Math.min(ctx, wpe.size(0)); }

    @Override public int layers() { return layers; }

    @Override public Session newSession() { return new Gpt2Session(); }

    @Override public void close() { owned.forEach(Tensor::close); }

    private final class Gpt2Session implements Session {
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

        @Override
        public float[] step(int[] ids) {
            int n = ids.length, hd = embd / heads, total = length + n;
            if (n == 0) throw new IllegalArgumentException("a step needs at least one token");
            if (total > contextLength()) throw new IllegalArgumentException("the sequence would hold " + total + " tokens; the context holds " + contextLength());
            for (int id : ids) if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (vocab - 1) + ")");
            try (Scope s = Scope.open()) {
                long[] lid = new long[n];
                for (int i = 0; i < n; i++) lid[i] = ids[i];
                Tensor x = Indexing.indexSelect(wte, 0, Tensor.fromArray(lid, n)).add(wpe.narrow(0, length, n));   // [n, embd]
                Tensor mask = null;
                if (n > 1) {                                   // causal: query i sees keys 0 .. length + i
                    float[] m = new float[n * total];
                    for (int i = 0; i < n; i++) for (int j = length + i + 1; j < total; j++) m[i * total + j] = Float.NEGATIVE_INFINITY;
                    mask = Tensor.fromArray(m, n, total);
                }
                float scale = (float) (1.0 / Math.sqrt(hd));
                for (int l = 0; l < layers; l++) {
                    Tensor[] b = blocks[l];
                    Tensor h = x.layerNorm(new int[] {embd}, b[0], b[1], eps);
                    NBitsVnni.Weights[] qw = n <= QUANT_ROWS ? quant[l] : null;
                    Tensor qkv = linear(h, b[2], qw == null ? null : qw[0], b[3], null);               // [n, 3 embd]
                    Tensor q = qkv.narrow(1, 0, embd).reshape(n, heads, hd).permute(1, 0, 2);          // [heads, n, hd]
                    Tensor k = qkv.narrow(1, embd, embd).reshape(n, heads, hd).permute(1, 0, 2);
                    Tensor v = qkv.narrow(1, 2 * embd, embd).reshape(n, heads, hd).permute(1, 0, 2);
                    kCache[l].narrow(1, length, n).copyFrom(k);
                    vCache[l].narrow(1, length, n).copyFrom(v);
                    Tensor kt = kCache[l].narrow(1, 0, total).transpose(1, 2);                        // [heads, hd, total]
                    Tensor scores = q.matmul(kt).mul(Tensor.scalar(scale));                            // [heads, n, total]
                    if (mask != null) scores = scores.add(mask);
                    Tensor att = scores.softmax(-1).matmul(vCache[l].narrow(1, 0, total));            // [heads, n, hd]
                    Tensor merged = att.permute(1, 0, 2).contiguous().reshape(n, embd);
                    x = x.add(linear(merged, b[4], qw == null ? null : qw[1], b[5], null));
                    Tensor h2 = x.layerNorm(new int[] {embd}, b[6], b[7], eps);
                    Tensor f = linear(h2, b[8], qw == null ? null : qw[2], b[9], UnaryOp.GELU_TANH);
                    x = x.add(linear(f, b[10], qw == null ? null : qw[3], b[11], null));
                }
                Tensor last = x.narrow(0, n - 1, 1).layerNorm(new int[] {embd}, lnFw, lnFb, eps);
                float[] logits = linear(last, head, n <= QUANT_ROWS ? quantHead : null, null, null).toFloatArray();
                length = total;
                return logits;
            }
        }

        /** act(a [rows, k] x w + bias): on the quantized weight q when given (row by row), else the float GEMM. */
        private Tensor linear(Tensor a, Tensor w, NBitsVnni.Weights q, Tensor bias, UnaryOp act) {
            if (q == null) return MatMul.linear(a, w, bias, act, bf16);
            int rows = a.size(0), k = a.size(1), n = q.cols();
            float[] x = a.toFloatArray(), y = new float[rows * n], row = rows == 1 ? x : new float[k], out = rows == 1 ? y : new float[n];
            for (int r = 0; r < rows; r++) {
                if (rows > 1) System.arraycopy(x, r * k, row, 0, k);
                NBitsVnni.gemv(q, row, out, NBitsVnni.available());
                if (rows > 1) System.arraycopy(out, 0, y, r * n, n);
            }
            Tensor t = Tensor.fromArray(y, rows, n);
            if (bias != null || act != null) new GemmEpilogue(bias, act).applySeparately(t);
            return t;
        }

        @Override
        public void close() {
            for (Tensor t : kCache) if (t != null) t.close();
            for (Tensor t : vCache) if (t != null) t.close();
        }
    }
}
