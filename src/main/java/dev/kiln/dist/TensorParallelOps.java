package dev.kiln.dist;

import dev.kiln.autograd.GradMode;
import dev.kiln.autograd.Node;
import dev.kiln.ops.Join;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The four autograd ops of Megatron-style tensor parallelism, each a forward collective paired with
 * its adjoint in backward (x: this rank's tensor, g: the gradient of the op's output):
 * <pre>
 * copyToRegion      forward  y = x                     backward  dx = all-reduce SUM (g)
 * reduceFromRegion  forward  y = all-reduce SUM (x)     backward  dx = g
 * gatherFromRegion  forward  y = cat_r x_r (last dim)   backward  dx = g[..., rank's slice]
 * scatterToRegion   forward  y = x[..., rank's slice]   backward  dx = cat_r g_r (all-gather)
 * </pre>
 * Every rank must call them in the same order (they are collectives). Forward collectives run only
 * while something needs them; backward collectives run inside {@code backward()} on every rank.
 */
public final class TensorParallelOps {
    private TensorParallelOps() {}

    /** Identity forward; gradient all-reduced (SUM) in backward. Enters a column-parallel region. */
    public static Tensor copyToRegion(Tensor x, ProcessGroup pg) {
        if (!Tensor.needsGrad(x)) return x;
        Tensor y;
        try (GradMode.Guard g = GradMode.noGrad()) { y = x.detach(); }
        return y.setGradFn(new Node("tp_copy_to_region", x) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor s = g.clone();
                pg.allReduce(s, ProcessGroup.ReduceOp.SUM).await();
                return new Tensor[]{s};
            }
        });
    }

    /** All-reduce (SUM) forward; identity backward. Leaves a row-parallel region with the full result. */
    public static Tensor reduceFromRegion(Tensor x, ProcessGroup pg) {
        Tensor y;
        try (GradMode.Guard g = GradMode.noGrad()) {
            y = x.clone();
            pg.allReduce(y, ProcessGroup.ReduceOp.SUM).await();
        }
        if (!Tensor.needsGrad(x)) return y;
        return y.setGradFn(new Node("tp_reduce_from_region", x) {
            @Override protected Tensor[] backward(Tensor g) { return new Tensor[]{g}; }
        });
    }

    /** Concatenates every rank's x along the last dim (rank order); backward keeps this rank's slice. */
    public static Tensor gatherFromRegion(Tensor x, ProcessGroup pg) {
        int last = lastDim("gatherFromRegion", x);
        int w = x.shape()[last];
        Tensor y;
        try (GradMode.Guard g = GradMode.noGrad()) { y = allGatherLast(x, pg); }
        if (!Tensor.needsGrad(x)) return y;
        int rank = pg.rank();
        return y.setGradFn(new Node("tp_gather_from_region", x) {
            @Override protected Tensor[] backward(Tensor g) {
                return new Tensor[]{g.narrow(last, rank * w, w).contiguous()};
            }
        });
    }

    /** This rank's slice of the last dim (it must divide by the group size); backward all-gathers. */
    public static Tensor scatterToRegion(Tensor x, ProcessGroup pg) {
        int last = lastDim("scatterToRegion", x);
        int w = shardSize("scatterToRegion: last dim of " + Shape.str(x.shape()), x.shape()[last], pg.size());
        Tensor y;
        try (GradMode.Guard g = GradMode.noGrad()) { y = x.narrow(last, pg.rank() * w, w).contiguous(); }
        if (!Tensor.needsGrad(x)) return y;
        return y.setGradFn(new Node("tp_scatter_to_region", x) {
            @Override protected Tensor[] backward(Tensor g) { return new Tensor[]{allGatherLast(g, pg)}; }
        });
    }

    /** Every rank's x concatenated along the last dim. */
    private static Tensor allGatherLast(Tensor x, ProcessGroup pg) {
        Tensor in = x.contiguous();
        List<Tensor> parts = new ArrayList<>();
        for (int r = 0; r < pg.size(); r++) parts.add(Tensor.empty(x.backend(), x.dtype(), x.shape()));
        pg.allGather(parts, in).await();
        Tensor out = Join.cat(parts.toArray(new Tensor[0]), x.dim() - 1);
        for (Tensor p : parts) p.close();
        if (in != x) in.close();
        return out;
    }

    private static int lastDim(String op, Tensor x) {
        if (x.dim() == 0) throw new IllegalArgumentException(op + ": needs at least one dim, got a scalar");
        return x.dim() - 1;
    }

    /** n / size, or an error naming what does not divide. */
    static int shardSize(String what, int n, int size) {
        if (n % size != 0) throw new IllegalArgumentException(what + " = " + n + " does not divide among " + size + " ranks");
        return n / size;
    }

    /** A contiguous copy of slice {@code rank} of {@code size} equal slices of t along axis. */
    static Tensor shard(Tensor t, int axis, int rank, int size, String what) {
        int w = shardSize(what, t.shape()[axis], size);
        try (GradMode.Guard g = GradMode.noGrad(); Tensor v = t.narrow(axis, rank * w, w)) {
            return v.clone();
        }
    }
}
