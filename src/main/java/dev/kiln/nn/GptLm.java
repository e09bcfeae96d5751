package dev.kiln.nn;

import dev.kiln.autograd.ActivationCheckpoint;
import dev.kiln.autograd.GradMode;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A GPT-2-architecture causal language model built from Kiln's layers and trained with its
 * autograd: token and position embeddings ({@code wte}, {@code wpe}) with dropout, a stack of
 * pre-norm {@link TransformerEncoderLayer}s with tanh-GELU and a 4x-wide feed-forward under a
 * causal mask ({@code h.0}, {@code h.1}, ...), a final LayerNorm ({@code ln_f}) and a head tied to
 * {@code wte}. Initialised as GPT-2 is: weights N(0, 0.02), the two projections into the residual
 * stream N(0, 0.02 / sqrt(2 layers)), biases 0, LayerNorms 1 and 0.
 *
 * <p>In eval mode it computes what Hugging Face's GPT2LMHeadModel computes ({@code gelu_new},
 * LayerNorm eps 1e-5); {@link #huggingFaceState()} and {@link #huggingFaceConfig(int)} give its
 * weights under GPT-2's names and Conv1D [in, out] layout and its {@code config.json}, so a trained
 * model runs in {@code kiln generate} ({@code Gpt2Decoder}) and in transformers. In training mode
 * it also drops out inside the feed-forward (after the GELU), where GPT-2 does not.
 */
public final class GptLm extends Module {
    /** vocab tokens, context positions, width (n_embd), layers, heads, dropout probability. */
    public record Config(int vocab, int context, int width, int layers, int heads, double dropout) {
        public Config {
            if (vocab < 1 || context < 1 || width < 1 || layers < 1 || heads < 1)
                throw new IllegalArgumentException("GptLm: vocab, context, width, layers and heads must be >= 1, got " + this);
            if (width % heads != 0) throw new IllegalArgumentException("GptLm: width " + width + " is not a multiple of heads " + heads);
            if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("GptLm: dropout must be in [0, 1), got " + dropout);
        }
    }

    /** GPT-2's LayerNorm epsilon. */
    public static final double EPS = 1e-5;

    private final Config config;
    private final Embedding wte, wpe;
    private final Dropout drop;
    private final ModuleList<TransformerEncoderLayer> h;
    private final LayerNorm lnF;
    private final Generator gen;
    private boolean checkpointActivations;

    public GptLm(Config c, Generator g) {
        this.config = c;
        this.gen = g;
        wte = registerModule("wte", new Embedding(c.vocab(), c.width(), g));
        wpe = registerModule("wpe", new Embedding(c.context(), c.width(), g));
        drop = registerModule("drop", new Dropout(c.dropout(), g));
        h = registerModule("h", new ModuleList<>());
        for (int i = 0; i < c.layers(); i++)
            h.add(new TransformerEncoderLayer(c.width(), c.heads(), 4 * c.width(), c.dropout(), "gelu_tanh", EPS, true, true, g));
        lnF = registerModule("ln_f", new LayerNorm(new int[]{c.width()}, EPS, true));
        initialise(g);
    }

    public Config config() { return config; }

    /** The generator the model's dropout draws from. */
    public Generator generator() { return gen; }

    /**
     * With on, each block runs under {@link ActivationCheckpoint} while gradients are recorded: its
     * activations are recomputed in backward instead of kept (the dropout masks replayed from the
     * model's generator, so values and gradients do not change).
     */
    public GptLm checkpointActivations(boolean on) {
        checkpointActivations = on;
        return this;
    }

    private void initialise(Generator g) {
        double std = 0.02, proj = 0.02 / Math.sqrt(2.0 * config.layers());
        try (Scope s = Scope.open(); GradMode.Guard ng = GradMode.noGrad()) {
            for (Map.Entry<String, Tensor> e : namedParameters().entrySet()) {
                String name = e.getKey();
                Tensor p = e.getValue();
                if (name.startsWith("ln_f.") || name.contains(".norm1.") || name.contains(".norm2.")) continue;
                if (p.dim() == 1) {
                    p.copyFrom(Tensor.zeros(p.dtype(), p.shape()));
                } else {
                    boolean residual = name.endsWith("out_proj.weight") || name.endsWith("linear2.weight");
                    p.copyFrom(Init.normal(g, p.shape()).mul(residual ? proj : std));
                }
            }
        }
    }

    /** Token ids [B, T] (I64/I32, T at most the context) to logits [B, T, vocab]. */
    @Override
    public Tensor forward(Tensor ids) {
        int[] s = ids.shape();
        if (s.length != 2) throw new IllegalArgumentException("GptLm: token ids must be [batch, time], got " + Shape.str(s));
        int t = s[1];
        if (t < 1 || t > config.context())
            throw new IllegalArgumentException("GptLm: sequence length " + t + " is outside [1, context " + config.context() + "]");
        long[] pos = new long[t];
        for (int i = 0; i < t; i++) pos[i] = i;
        Tensor x = drop.forward(wte.forward(ids).add(wpe.forward(Tensor.fromArray(pos, 1, t))));
        Tensor mask = MultiheadAttention.causalMask(t);
        for (TransformerEncoderLayer layer : h)
            x = checkpointActivations ? ActivationCheckpoint.apply(in -> layer.forward(in, mask), x, gen) : layer.forward(x, mask);
        return dev.kiln.ops.Linear.linear(lnF.forward(x), wte.weight(), null);
    }

    /**
     * The weights under Hugging Face GPT-2 names ({@code wte.weight}, {@code h.0.attn.c_attn.weight},
     * ...) in its layout (Conv1D weights [in, out]); new contiguous tensors the caller closes.
     */
    public LinkedHashMap<String, Tensor> huggingFaceState() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        Map<String, Tensor> p = namedParameters();
        try (GradMode.Guard ng = GradMode.noGrad()) {
            put(out, "wte.weight", p.get("wte.weight"), false);
            put(out, "wpe.weight", p.get("wpe.weight"), false);
            for (int i = 0; i < config.layers(); i++) {
                String k = "h." + i + ".";
                for (String[] n : BLOCK_NAMES) {
                    Tensor t = p.get(k + n[1]);
                    put(out, k + n[0], t, t != null && t.dim() == 2);      // a block's matrices are Conv1D [in, out] in the file
                }
            }
            put(out, "ln_f.weight", p.get("ln_f.weight"), false);
            put(out, "ln_f.bias", p.get("ln_f.bias"), false);
        }
        return out;
    }

    /** A block's parameters in the file's order: Hugging Face GPT-2's name, then the TransformerEncoderLayer's. */
    private static final String[][] BLOCK_NAMES = {
            {"ln_1.weight", "norm1.weight"}, {"ln_1.bias", "norm1.bias"},
            {"attn.c_attn.weight", "self_attn.in_proj_weight"}, {"attn.c_attn.bias", "self_attn.in_proj_bias"},
            {"attn.c_proj.weight", "self_attn.out_proj.weight"}, {"attn.c_proj.bias", "self_attn.out_proj.bias"},
            {"ln_2.weight", "norm2.weight"}, {"ln_2.bias", "norm2.bias"},
            {"mlp.c_fc.weight", "linear1.weight"}, {"mlp.c_fc.bias", "linear1.bias"},
            {"mlp.c_proj.weight", "linear2.weight"}, {"mlp.c_proj.bias", "linear2.bias"}};

    private static void put(Map<String, Tensor> out, String name, Tensor t, boolean transpose) {
        if (t == null) throw new IllegalStateException("GptLm: no parameter for " + name);
        try (Tensor v = transpose ? t.transpose(0, 1) : t.view(t.shape())) {
            out.put(name, Scope.escape(v.contiguous().clone()));
        }
    }

    /** Hugging Face's {@code config.json} for this model; eos (and bos) is the given token id, or none when it is negative. */
    public String huggingFaceConfig(int eosId) {
        Config c = config;
        String eos = eosId < 0 ? "null" : Integer.toString(eosId);
        return String.format(Locale.ROOT, """
                {
                  "model_type": "gpt2",
                  "architectures": ["GPT2LMHeadModel"],
                  "vocab_size": %d,
                  "n_positions": %d,
                  "n_ctx": %d,
                  "n_embd": %d,
                  "n_layer": %d,
                  "n_head": %d,
                  "n_inner": null,
                  "activation_function": "gelu_new",
                  "layer_norm_epsilon": %s,
                  "resid_pdrop": %s,
                  "embd_pdrop": %s,
                  "attn_pdrop": %s,
                  "tie_word_embeddings": true,
                  "bos_token_id": %s,
                  "eos_token_id": %s
                }
                """, c.vocab(), c.context(), c.context(), c.width(), c.layers(), c.heads(), EPS, c.dropout(), c.dropout(), c.dropout(), eos, eos);
    }
}
