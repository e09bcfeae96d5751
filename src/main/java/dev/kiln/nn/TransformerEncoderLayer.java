package dev.kiln.nn;

import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

/**
 * torch.nn.TransformerEncoderLayer: self-attention + feed-forward, each with dropout, residual and
 * LayerNorm (post-norm by default, pre-norm with normFirst). Submodule names match PyTorch.
 */
public final class TransformerEncoderLayer extends Module {
    private final MultiheadAttention selfAttn;
    private final Linear linear1, linear2;
    private final Dropout dropout, dropout1, dropout2;
    private final LayerNorm norm1, norm2;
    private final boolean normFirst;
    private final String activation;

    public TransformerEncoderLayer(int dModel, int nhead, int dimFeedforward, double dropoutP, String activation,
                                   double eps, boolean batchFirst, boolean normFirst, Generator g) {
        this.selfAttn = registerModule("self_attn", new MultiheadAttention(dModel, nhead, dropoutP, batchFirst, g));
        this.linear1 = registerModule("linear1", new Linear(dModel, dimFeedforward, true, g));
        this.dropout = registerModule("dropout", new Dropout(dropoutP, g));
        this.linear2 = registerModule("linear2", new Linear(dimFeedforward, dModel, true, g));
        this.norm1 = registerModule("norm1", new LayerNorm(new int[]{dModel}, eps, true));
        this.norm2 = registerModule("norm2", new LayerNorm(new int[]{dModel}, eps, true));
        this.dropout1 = registerModule("dropout1", new Dropout(dropoutP, g));
        this.dropout2 = registerModule("dropout2", new Dropout(dropoutP, g));
        this.normFirst = normFirst;
        if (!activation.equals("relu") && !activation.equals("gelu") && !activation.equals("gelu_tanh"))
            throw new IllegalArgumentException("TransformerEncoderLayer: activation must be relu, gelu or gelu_tanh, got " + activation);
        this.activation = activation;
    }

    public TransformerEncoderLayer(int dModel, int nhead) {
        this(dModel, nhead, 2048, 0.1, "relu", 1e-5, false, false, Generator.global());
    }

    public boolean normFirst() { return normFirst; }

    /** "relu", "gelu" (erf form) or "gelu_tanh" (the tanh approximation GPT-2 uses; PyTorch's gelu(approximate="tanh")). */
    public String activation() { return activation; }

    @Override public Tensor forward(Tensor x) { return forward(x, null); }

    public Tensor forward(Tensor x, Tensor mask) {
        if (normFirst) {
            Tensor n = norm1.forward(x);    // once for q, k and v (it was computed three times)
            Tensor h = x.add(dropout1.forward(selfAttn.forward(n, n, n, mask)));
            return h.add(dropout2.forward(ff(norm2.forward(h))));
        }
        Tensor h = norm1.forward(x.add(dropout1.forward(selfAttn.forward(x, x, x, mask))));
        return norm2.forward(h.add(dropout2.forward(ff(h))));
    }

    private Tensor ff(Tensor x) {
        Tensor a = linear1.forward(x);
        Tensor act = switch (activation) {
            case "gelu" -> a.gelu();
            case "gelu_tanh" -> a.geluTanh();
            default -> a.relu();
        };
        return linear2.forward(dropout.forward(act));
    }
}
