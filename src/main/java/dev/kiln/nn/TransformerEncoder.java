package dev.kiln.nn;

import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * torch.nn.TransformerEncoder: a stack of {@link TransformerEncoderLayer}s (submodules
 * "layers.0", "layers.1", ...) and an optional final LayerNorm ("norm"), the names PyTorch uses,
 * so state dicts move between the two. Every layer gets the same attention mask (e.g.
 * {@link MultiheadAttention#causalMask}).
 */
public final class TransformerEncoder extends Module {
    private final ModuleList<TransformerEncoderLayer> layers;
    private final LayerNorm norm;

    /** numLayers layers made by layer(i); norm may be null. */
    public TransformerEncoder(int numLayers, IntFunction<TransformerEncoderLayer> layer, LayerNorm norm) {
        if (numLayers < 1) throw new IllegalArgumentException("TransformerEncoder: numLayers must be >= 1, got " + numLayers);
        List<TransformerEncoderLayer> ls = new ArrayList<>();
        for (int i = 0; i < numLayers; i++) ls.add(layer.apply(i));
        this.layers = registerModule("layers", new ModuleList<>(ls));
        this.norm = norm == null ? null : registerModule("norm", norm);
    }

    public ModuleList<TransformerEncoderLayer> layers() { return layers; }

    @Override public Tensor forward(Tensor x) { return forward(x, null); }

    public Tensor forward(Tensor x, Tensor mask) {
        Tensor h = x;
        for (TransformerEncoderLayer l : layers) h = l.forward(h, mask);
        return norm == null ? h : norm.forward(h);
    }
}
