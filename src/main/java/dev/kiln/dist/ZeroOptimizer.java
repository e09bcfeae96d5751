package dev.kiln.dist;

import dev.kiln.autograd.GradMode;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * ZeRO-style data parallelism (stages 1 and 2): the optimizer state is sharded over the ranks
 * instead of replicated. The float32 parameters, in registration order, form one flat vector of n
 * elements padded to a multiple of the world size W; rank r owns elements [r S, (r + 1) S),
 * S = ceil(n / W). Each {@link #step}: the gradients (zero where a parameter has none) are packed
 * into one flat buffer and reduce-scattered (AVG), so each rank receives the averaged gradient of
 * its shard only; the wrapped optimizer (built by {@code make} over one tensor, the shard) updates
 * the shard (read from the parameters as they are, so loading a model checkpoint needs nothing
 * more), whose state (Adam's moments, momentum...) is therefore 1/W of plain DDP's; an
 * all-gather of the shards rebuilds every parameter on every rank. Stage 2 also frees the
 * parameters' gradients as soon as they are packed, before the optimizer's state is touched. The
 * arithmetic per element is the plain optimizer's on the same averaged gradient, so with an
 * elementwise optimizer (SGD, Adam, AdamW) the parameters equal DDP's (tested against one
 * process on the whole batch). One difference: a parameter that got no gradient in a step counts
 * as a zero gradient here, where the plain optimizers skip it; with weight decay it then decays.
 * Gradient clipping by global norm is not offered (it needs the norm all-reduced across shards).
 *
 * <p>Rank 0's initial parameters are broadcast at construction, as DDP does. Checkpoints are
 * sharded: {@link #stateDict()} holds this rank's shard of each state tensor and the layout
 * ("zero.numel", "zero.world", "zero.rank"); {@link #loadShards} rebuilds the state from every
 * rank's dict of a run with any world size and loads this rank's slice of it.
 */
public final class ZeroOptimizer extends Optimizer {
    private final ProcessGroup pg;
    private final int stage;
    private final long n;
    private final int shardSize;
    private final long[] offsets;
    private final Tensor flatParams, flatGrads, shard, shardGrad;
    private final Optimizer inner;

    private ZeroOptimizer(List<Tensor> params, ProcessGroup pg, int stage, Function<List<Tensor>, Optimizer> make) {
        super(params, 0);
        if (stage != 1 && stage != 2) throw new IllegalArgumentException("ZeRO: stage must be 1 or 2, got " + stage);
        this.pg = pg;
        this.stage = stage;
        offsets = new long[params.size()];
        long total = 0;
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p.dtype() != DType.F32 || !p.storage().isHost())
                throw new IllegalArgumentException("ZeRO: parameter " + i + " " + Shape.str(p.shape()) + " is " + p.dtype().pyName() + " on "
                        + p.backend().name() + "; ZeRO shards float32 CPU parameters");
            offsets[i] = total;
            total += p.numel();
        }
        n = total;
        int w = pg.size();
        shardSize = Math.toIntExact((n + w - 1) / w);
        flatParams = Scope.escape(Tensor.zeros(DType.F32, w * shardSize));
        flatGrads = Scope.escape(Tensor.zeros(DType.F32, w * shardSize));
        shardGrad = Scope.escape(Tensor.zeros(DType.F32, shardSize));
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (Tensor p : params) pg.broadcast(p, 0).await();                // rank 0's initial parameters, as DDP
            pack(params, flatParams, false);
            try (Tensor mine = flatParams.narrow(0, pg.rank() * shardSize, shardSize)) {
                shard = Scope.escape(mine.contiguous().clone());
            }
        }
        shard.requiresGrad(true);
        inner = make.apply(List.of(shard));
        lr = inner.lr();
    }

    /** ZeRO over params: stage 1 (optimizer state sharded) or 2 (and gradients freed once reduced); make builds the optimizer of a parameter list. */
    public static ZeroOptimizer of(List<Tensor> params, ProcessGroup pg, int stage, Function<List<Tensor>, Optimizer> make) {
        return new ZeroOptimizer(params, pg, stage, make);
    }

    public int stage() { return stage; }

    /** Elements of this rank's shard (the optimizer state per state tensor is this many floats). */
    public int shardSize() { return shardSize; }

    /** The wrapped optimizer (over the shard). */
    public Optimizer inner() { return inner; }

    /** dst[offsets[i] .. + numel) = params[i] (or its gradient; zeros where it has none); the padding stays zero. */
    private void pack(List<Tensor> ps, Tensor dst, boolean grads) {
        for (int i = 0; i < ps.size(); i++) {
            Tensor p = ps.get(i);
            int numel = Math.toIntExact(p.numel());
            try (Tensor slot = dst.narrow(0, Math.toIntExact(offsets[i]), numel)) {
                Tensor src = grads ? p.grad() : p;
                if (src == null) {
                    try (Tensor z = Tensor.zeros(DType.F32, numel)) {
                        slot.copyFrom(z);
                    }
                } else {
                    try (Tensor flat = src.reshape(numel)) {
                        slot.copyFrom(flat);
                    }
                }
            }
        }
    }

    @Override
    public void step() {
        steps++;
        try (GradMode.Guard g = GradMode.noGrad(); Scope s = Scope.open()) {
            pack(params, flatGrads, true);
            if (stage == 2) for (Tensor p : params) p.zeroGrad();
            pg.reduceScatter(shardGrad, flatGrads, ProcessGroup.ReduceOp.AVG).await();
            // the shard from the parameters as they are now (a checkpoint or the caller may have set them)
            pack(params, flatParams, false);
            try (Tensor mine = flatParams.narrow(0, pg.rank() * shardSize, shardSize)) {
                shard.copyFrom(mine);
            }
            if (shard.grad() == null) shard.setGrad(Scope.escape(shardGrad.clone()));
            else shard.grad().copyFrom(shardGrad);
            inner.setLr(lr);
            inner.step();
            List<Tensor> slots = new ArrayList<>();
            for (int r = 0; r < pg.size(); r++) slots.add(flatParams.narrow(0, r * shardSize, shardSize));
            pg.allGather(slots, shard).await();
            for (int i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                try (Tensor slot = flatParams.narrow(0, Math.toIntExact(offsets[i]), Math.toIntExact(p.numel())); Tensor v = slot.reshape(p.shape())) {
                    p.copyFrom(v);
                }
            }
        }
    }

    @Override
    public void zeroGrad() {
        super.zeroGrad();
        shard.zeroGrad();
    }

    @Override
    public void setLr(double lr) {
        super.setLr(lr);
        inner.setLr(lr);
    }

    /** This rank's shard of the optimizer state, its step and lr, and the layout: zero.numel, zero.world, zero.rank. */
    @Override
    public Map<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>(inner.stateDict());
        out.put("zero.numel", Tensor.scalar(n, DType.F64));
        out.put("zero.world", Tensor.scalar(pg.size(), DType.F64));
        out.put("zero.rank", Tensor.scalar(pg.rank(), DType.F64));
        return out;
    }

    /** Refuses a single dict: a sharded state is loaded from every rank's ({@link #loadShards}). */
    @Override
    public void loadStateDict(Map<String, Tensor> sd) {
        loadShards(List.of(sd));
    }

    /**
     * Loads the optimizer state of a run with any world size, given every rank's {@link #stateDict()}
     * (in any order): each state tensor's shards are put back together in rank order, cut to the n
     * elements, and this rank's slice of the current layout is loaded. Fails in one line when the
     * shards do not belong together or do not match these parameters.
     */
    public void loadShards(List<Map<String, Tensor>> shards) {
        if (shards.isEmpty()) throw new IllegalArgumentException("ZeRO state: no shards given");
        int world = (int) shards.get(0).getOrDefault("zero.world", Tensor.scalar(-1, DType.F64)).item();
        if (world != shards.size())
            throw new IllegalArgumentException("ZeRO state: the shards say world size " + world + " but " + shards.size() + " were given");
        Map<String, Tensor>[] byRank = new Map[world];
        for (Map<String, Tensor> sd : shards) {
            long numel = (long) sd.get("zero.numel").item();
            if (numel != n) throw new IllegalArgumentException("ZeRO state: saved for " + numel + " parameter elements, this model has " + n);
            int r = (int) sd.get("zero.rank").item();
            if (r < 0 || r >= world || byRank[r] != null) throw new IllegalArgumentException("ZeRO state: rank " + r + " missing, repeated or out of range");
            byRank[r] = sd;
        }
        int oldShard = Math.toIntExact((n + world - 1) / world);
        LinkedHashMap<String, Tensor> mine = new LinkedHashMap<>();
        try (Scope s = Scope.open()) {
            for (String key : byRank[0].keySet()) {
                if (key.startsWith("zero.")) continue;
                if (key.equals("step") || key.equals("lr")) {
                    mine.put(key, byRank[0].get(key));
                    continue;
                }
                float[] full = new float[world * oldShard];
                for (int r = 0; r < world; r++) {
                    float[] part = byRank[r].get(key).toFloatArray();
                    if (part.length != oldShard) throw new IllegalArgumentException("ZeRO state: " + key + " of rank " + r + " has " + part.length + " elements, expected " + oldShard);
                    System.arraycopy(part, 0, full, r * oldShard, oldShard);
                }
                float[] slice = new float[shardSize];
                long from = (long) pg.rank() * shardSize;
                for (int i = 0; i < shardSize && from + i < n; i++) slice[i] = full[(int) (from + i)];
                mine.put(key, Tensor.fromArray(slice, shardSize));
            }
            inner.loadStateDict(mine);
            steps = inner.steps();
            lr = inner.lr();
        }
    }

    @Override
    public void close() {
        inner.close();
        shard.zeroGrad();
        shard.close();
        flatParams.close();
        flatGrads.close();
        shardGrad.close();
        super.close();
    }
}
