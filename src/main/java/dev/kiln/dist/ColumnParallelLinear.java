package dev.kiln.dist;

import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.tensor.Tensor;

/**
 * A Linear whose weight [out, in] is split by output features: rank r holds rows
 * [r out/p, (r + 1) out/p) of the weight and of the bias and computes that slice of y = x W^T + b.
 * The input enters through {@link TensorParallelOps#copyToRegion} (identity forward, input gradient
 * all-reduced in backward, since every rank's slice of y depends on all of x). With gatherOutput
 * the slices are all-gathered into the full y; without (the usual case, followed by a
 * {@link RowParallelLinear}) each rank keeps its slice [..., out/p].
 */
public final class ColumnParallelLinear extends Module {
    private final ProcessGroup pg;
    private final boolean gatherOutput;
    private final Tensor weight, bias;
    public final int inFeatures, outFeatures;

    private ColumnParallelLinear(Tensor weightShard, Tensor biasShard, ProcessGroup pg, boolean gatherOutput, int outFeatures) {
        this.pg = pg;
        this.gatherOutput = gatherOutput;
        this.inFeatures = weightShard.shape()[1];
        this.outFeatures = outFeatures;
        this.weight = registerParameter("weight", weightShard);
        this.bias = biasShard == null ? null : registerParameter("bias", biasShard);
    }

    /** This rank's shard of a full (single-rank) Linear; the full layer is only read. */
    public static ColumnParallelLinear fromFull(Linear full, ProcessGroup pg, boolean gatherOutput) {
        return fromWeights(full.weight(), full.bias(), pg, gatherOutput);
    }

    /** This rank's shard of a full weight [out, in] and bias [out] (or null). */
    public static ColumnParallelLinear fromWeights(Tensor weight, Tensor bias, ProcessGroup pg, boolean gatherOutput) {
        String what = "ColumnParallelLinear: out_features";
        Tensor w = TensorParallelOps.shard(weight, 0, pg.rank(), pg.size(), what);
        Tensor b = bias == null ? null : TensorParallelOps.shard(bias, 0, pg.rank(), pg.size(), what);
        return new ColumnParallelLinear(w, b, pg, gatherOutput, weight.shape()[0]);
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }

    /** x [..., in] -> [..., out/p], or [..., out] with gatherOutput. */
    @Override
    public Tensor forward(Tensor x) {
        Tensor y = dev.kiln.ops.Linear.linear(TensorParallelOps.copyToRegion(x, pg), weight, bias);
        return gatherOutput ? TensorParallelOps.gatherFromRegion(y, pg) : y;
    }

    @Override
    protected String extraRepr() {
        return "in_features=" + inFeatures + ", out_features=" + outFeatures + " (" + weight.shape()[0] + " on rank " + pg.rank()
                + " of " + pg.size() + "), bias=" + (bias != null) + ", gather_output=" + gatherOutput;
    }
}
