package dev.kiln.dist;

import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.MultiheadAttention;
import dev.kiln.ops.Join;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

/**
 * Tensor-parallel multi-head attention (Megatron): the heads are split across ranks. Rank r holds
 * heads [r H/p, (r + 1) H/p): the q, k and v rows of those heads from the packed in-projection
 * (column-parallel, so the input enters through {@link TensorParallelOps#copyToRegion}), runs
 * attention on its heads alone, and multiplies its slice of the context by the matching columns of
 * the output projection ({@link RowParallelLinear}, whose all-reduce sums the heads' contributions).
 * Parameters: {@code qkv_weight} [3E/p, E] (this rank's q rows, then k rows, then v rows),
 * {@code qkv_bias} [3E/p], {@code out_proj.weight} [E, E/p], {@code out_proj.bias} [E] (replicated).
 * Layout and masks follow {@link MultiheadAttention}; there is no attention dropout (build it from a
 * module with dropout 0, or use it in eval mode).
 */
public final class TensorParallelAttention extends Module {
    public final int embedDim, numHeads, localHeads;
    public final boolean batchFirst;
    private final ProcessGroup pg;
    private final Tensor qkvWeight, qkvBias;
    private final RowParallelLinear outProj;

    private TensorParallelAttention(MultiheadAttention full, ProcessGroup pg) {
        int p = pg.size(), r = pg.rank(), e = full.embedDim;
        this.embedDim = e;
        this.numHeads = full.numHeads;
        this.localHeads = TensorParallelOps.shardSize("TensorParallelAttention: num_heads", full.numHeads, p);
        this.batchFirst = full.batchFirst;
        this.pg = pg;
        var params = full.namedParameters();
        this.qkvWeight = registerParameter("qkv_weight", headRows(params.get("in_proj_weight"), e, r, p));
        this.qkvBias = registerParameter("qkv_bias", headRows(params.get("in_proj_bias"), e, r, p));
        this.outProj = registerModule("out_proj", RowParallelLinear.fromFull((Linear) full.children().get("out_proj"), pg, true));
    }

    /** This rank's heads of a full (single-rank) module; the full module is only read. */
    public static TensorParallelAttention fromFull(MultiheadAttention full, ProcessGroup pg) {
        return new TensorParallelAttention(full, pg);
    }

    /** Rows of heads [r H/p, (r+1) H/p) in each of the q, k, v blocks of a packed [3E, ...] tensor, stacked. */
    private static Tensor headRows(Tensor packed, int e, int r, int p) {
        int w = e / p;
        Tensor[] parts = new Tensor[3];
        try (var g = dev.kiln.autograd.GradMode.noGrad()) {
            for (int i = 0; i < 3; i++) parts[i] = packed.narrow(0, i * e + r * w, w);
            Tensor out = Join.cat(parts, 0);
            for (Tensor t : parts) t.close();
            return out;
        }
    }

    @Override public Tensor forward(Tensor x) { return forward(x, x, x, null); }

    /** Attention output [L, B, E] (or [B, L, E] with batchFirst), the same on every rank. */
    public Tensor forward(Tensor query, Tensor key, Tensor value, Tensor attnMask) {
        Tensor qIn = TensorParallelOps.copyToRegion(query, pg);
        Tensor kIn = key == query ? qIn : TensorParallelOps.copyToRegion(key, pg);
        Tensor vIn = value == query ? qIn : value == key ? kIn : TensorParallelOps.copyToRegion(value, pg);
        Tensor q = batchFirst ? qIn : qIn.transpose(0, 1);
        Tensor k = batchFirst ? kIn : kIn.transpose(0, 1);
        Tensor v = batchFirst ? vIn : vIn.transpose(0, 1);
        int b = q.shape()[0], l = q.shape()[1], s = k.shape()[1], h = localHeads, d = embedDim / numHeads, el = h * d;
        Tensor qh = proj(q, 0, el).reshape(b, l, h, d).permute(0, 2, 1, 3);
        Tensor kh = proj(k, 1, el).reshape(b, s, h, d).permute(0, 2, 3, 1);
        Tensor vh = proj(v, 2, el).reshape(b, s, h, d).permute(0, 2, 1, 3);
        Tensor scores = qh.mul(1.0 / Math.sqrt(d)).matmul(kh);   // [B, h, L, S]
        if (attnMask != null) {
            if (attnMask.dtype() == DType.BOOL) scores = Tensor.where(attnMask, Tensor.scalar(Double.NEGATIVE_INFINITY), scores);
            else scores = scores.add(attnMask);
        }
        Tensor ctx = scores.softmax(-1).matmul(vh).permute(0, 2, 1, 3).reshape(b, l, el);
        Tensor out = outProj.forward(ctx);
        return batchFirst ? out : out.transpose(0, 1);
    }

    private Tensor proj(Tensor x, int i, int el) {
        return dev.kiln.ops.Linear.linear(x, qkvWeight.narrow(0, i * el, el), qkvBias.narrow(0, i * el, el));
    }

    @Override
    protected String extraRepr() {
        return "embed_dim=" + embedDim + ", num_heads=" + numHeads + " (" + localHeads + " on rank " + pg.rank() + " of " + pg.size() + ")";
    }
}
