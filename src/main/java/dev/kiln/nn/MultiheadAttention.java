package dev.kiln.nn;

import dev.kiln.ops.Attention;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

/**
 * torch.nn.MultiheadAttention (no kdim/vdim, no bias_kv): packed in_proj_weight [3E, E] and
 * in_proj_bias [3E], out_proj Linear(E, E). Inputs are [L, B, E], or [B, L, E] with batchFirst.
 * attnMask (optional) is additive float [L, S] or boolean (true = masked out).
 */
public final class MultiheadAttention extends Module {
    public final int embedDim, numHeads;
    public final boolean batchFirst;
    private final Tensor inProjWeight, inProjBias;
    private final Linear outProj;
    private final Dropout dropout;

    public MultiheadAttention(int embedDim, int numHeads, double dropout, boolean batchFirst, Generator g) {
        if (embedDim % numHeads != 0)
            throw new IllegalArgumentException("MultiheadAttention: embed_dim " + embedDim + " not divisible by num_heads " + numHeads);
        this.embedDim = embedDim;
        this.numHeads = numHeads;
        this.batchFirst = batchFirst;
        this.inProjWeight = registerParameter("in_proj_weight", Init.xavierUniform(g, embedDim, 3 * embedDim, 1.0, 3 * embedDim, embedDim));
        this.inProjBias = registerParameter("in_proj_bias", Tensor.zeros(3 * embedDim));
        this.outProj = registerModule("out_proj", new Linear(embedDim, embedDim, true, g));
        try (var ng = dev.kiln.autograd.GradMode.noGrad()) { outProj.bias().copyFrom(Tensor.scalar(0)); }
        this.dropout = new Dropout(dropout, g);
    }

    /**
     * The additive causal mask for n positions, [n, n] float32: 0 where key j is at most query i, -inf above
     * the diagonal (PyTorch's nn.Transformer.generate_square_subsequent_mask).
     */
    public static Tensor causalMask(int n) {
        if (n < 1) throw new IllegalArgumentException("causalMask: n must be >= 1, got " + n);
        float[] m = new float[n * n];
        for (int i = 0; i < n; i++) java.util.Arrays.fill(m, i * n + i + 1, (i + 1) * n, Float.NEGATIVE_INFINITY);
        return Tensor.fromArray(m, n, n);
    }

    @Override public Tensor forward(Tensor x) { return forward(x, x, x, null); }

    /**
     * Attention output (weights are not returned). Self-attention (query, key and value the same
     * tensor) projects q, k and v in one product with in_proj_weight and runs the fused kernel of
     * {@link Attention#selfAttention} (float masks; a boolean mask and cross-attention take the
     * composed path).
     */
    public Tensor forward(Tensor query, Tensor key, Tensor value, Tensor attnMask) {
        Tensor q = batchFirst ? query : query.transpose(0, 1);
        double p = dropout.active();
        Tensor ctx;
        if (query == key && key == value && (attnMask == null || attnMask.dtype() != dev.kiln.tensor.DType.BOOL)) {
            ctx = Attention.selfAttention(dev.kiln.ops.Linear.linear(q, inProjWeight, inProjBias), numHeads, attnMask, p, dropout.generator());
        } else {
            Tensor k = batchFirst ? key : key.transpose(0, 1);
            Tensor v = batchFirst ? value : value.transpose(0, 1);
            int b = q.shape()[0], l = q.shape()[1], s = k.shape()[1], e = embedDim, h = numHeads, d = e / h;
            Tensor qh = proj(q, 0).reshape(b, l, h, d).permute(0, 2, 1, 3);
            Tensor kh = proj(k, 1).reshape(b, s, h, d).permute(0, 2, 3, 1);
            Tensor vh = proj(v, 2).reshape(b, s, h, d).permute(0, 2, 1, 3);
            ctx = Attention.scaledDotProduct(qh, kh, vh, attnMask, p, dropout.generator()).permute(0, 2, 1, 3).reshape(b, l, e);
        }
        Tensor out = outProj.forward(ctx);
        return batchFirst ? out : out.transpose(0, 1);
    }

    private Tensor proj(Tensor x, int i) {
        Tensor w = inProjWeight.narrow(0, i * embedDim, embedDim);
        Tensor bias = inProjBias.narrow(0, i * embedDim, embedDim);
        return dev.kiln.ops.Linear.linear(x, w, bias);
    }

    @Override public Module setTraining(boolean on) {
        super.setTraining(on);
        if (dropout != null) dropout.setTraining(on);
        return this;
    }
}
