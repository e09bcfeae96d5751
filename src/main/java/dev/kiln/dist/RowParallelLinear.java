package dev.kiln.dist;

import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.tensor.Tensor;

/**
 * A Linear whose weight [out, in] is split by input features: rank r holds columns
 * [r in/p, (r + 1) in/p) and computes the partial product of its slice of x with them; the partial
 * outputs are summed by {@link TensorParallelOps#reduceFromRegion} (all-reduce forward, identity
 * backward), then the full bias (the same on every rank) is added. With inputIsParallel (the usual
 * case, after a {@link ColumnParallelLinear}) x is already this rank's slice [..., in/p]; otherwise
 * x is full and {@link TensorParallelOps#scatterToRegion} takes the slice.
 */
public final class RowParallelLinear extends Module {
    private final ProcessGroup pg;
    private final boolean inputIsParallel;
    private final Tensor weight, bias;
    public final int inFeatures, outFeatures;

    private RowParallelLinear(Tensor weightShard, Tensor fullBias, ProcessGroup pg, boolean inputIsParallel, int inFeatures) {
        this.pg = pg;
        this.inputIsParallel = inputIsParallel;
        this.inFeatures = inFeatures;
        this.outFeatures = weightShard.shape()[0];
        this.weight = registerParameter("weight", weightShard);
        this.bias = fullBias == null ? null : registerParameter("bias", fullBias);
    }

    /** This rank's shard of a full (single-rank) Linear; the full layer is only read. */
    public static RowParallelLinear fromFull(Linear full, ProcessGroup pg, boolean inputIsParallel) {
        return fromWeights(full.weight(), full.bias(), pg, inputIsParallel);
    }

    /** This rank's shard of a full weight [out, in]; the bias [out] (or null) is copied whole. */
    public static RowParallelLinear fromWeights(Tensor weight, Tensor bias, ProcessGroup pg, boolean inputIsParallel) {
        Tensor w = TensorParallelOps.shard(weight, 1, pg.rank(), pg.size(), "RowParallelLinear: in_features");
        Tensor b = bias == null ? null : TensorParallelOps.shard(bias, 0, 0, 1, "RowParallelLinear: bias");
        return new RowParallelLinear(w, b, pg, inputIsParallel, weight.shape()[1]);
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }

    /** x [..., in/p] (or [..., in] without inputIsParallel) -> [..., out], the same on every rank. */
    @Override
    public Tensor forward(Tensor x) {
        Tensor xin = inputIsParallel ? x : TensorParallelOps.scatterToRegion(x, pg);
        Tensor y = TensorParallelOps.reduceFromRegion(dev.kiln.ops.Linear.linear(xin, weight, null), pg);
        return bias == null ? y : y.add(bias);
    }

    @Override
    protected String extraRepr() {
        return "in_features=" + inFeatures + " (" + weight.shape()[1] + " on rank " + pg.rank() + " of " + pg.size() + "), out_features="
                + outFeatures + ", bias=" + (bias != null) + ", input_is_parallel=" + inputIsParallel;
    }
}
