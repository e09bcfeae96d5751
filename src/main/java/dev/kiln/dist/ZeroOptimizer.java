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
 * S = ceil(n / W). Each {@link #step}: the gradients (zero where a parameter has none) are
 * reduce-scattered (AVG), so each rank receives the averaged gradient of its shard only; the wrapped optimizer (built by {@code make} over one tensor, the shard) updates
 * the shard (read from the parameters as they are, so loading a model checkpoint needs nothing
 * more), whose state (Adam's moments, momentum...) is therefore 1/W of plain DDP's; an
 * all-gather of the shards rebuilds every parameter on every rank. Both collectives move
 * {@link #chunk} elements per rank at a time through a buffer of W chunks, so no flat copy of the
 * whole model is ever held. Per rank: the parameters and their gradients, plus 2 + (the optimizer's
 * state tensors) shard-sized buffers, where DDP holds the optimizer's full state and its gradient
 * buckets. Stage 2 also frees the parameters' gradients once reduced, before the optimizer runs
 * (they are rebuilt whole by the next backward: the peak at the end of backward is stage 1's). The
 * arithmetic per element is the plain optimizer's on the same averaged gradient, so with an
 * elementwise optimizer (SGD, Adam, AdamW) the parameters equal DDP's (tested against one
 * process on the whole batch). One difference: a parameter that got no gradient in a step counts
 * as a zero gradient here, where the plain optimizers skip it; with weight decay it then decays.
 * {@link #clipGradNorm(double)} clips by the global norm of the averaged gradient, its square
 * summed over the shards with one all-reduce (the same formula as
 * {@link Optimizer#clipGradNorm(List, double)}, summed in another order).
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
    private final Tensor shard, shardGrad;
    /** Elements per rank moved by one reduce-scatter or all-gather: the flat buffers are this many x W, never the whole model. */
    static int chunk = 1 << 20;
    private final Optimizer inner;
    private double maxNorm = Double.NaN;
    private double lastNorm = Double.NaN;

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
        shardGrad = Scope.escape(Tensor.zeros(DType.F32, shardSize));
        shard = Scope.escape(Tensor.zeros(DType.F32, shardSize));
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (Tensor p : params) pg.broadcast(p, 0).await();                // rank 0's initial parameters, as DDP
        }
        // the shard's values are read from the parameters at each step
        shard.requiresGrad(true);
        inner = make.apply(List.of(shard));
        lr = inner.lr();
    }

    /** ZeRO over params: stage 1 (optimizer state sharded) or 2 (and gradients freed once reduced); make builds the optimizer of a parameter list. */
    public static ZeroOptimizer of(List<Tensor> params, ProcessGroup pg, int stage, Function<List<Tensor>, Optimizer> make) {
        return new ZeroOptimizer(params, pg, stage, make);
    }

    public int stage() { return stage; }

    /** Clips the averaged gradient to global L2 norm maxNorm in every later step (NaN: no clipping). */
    public ZeroOptimizer clipGradNorm(double maxNorm) {
        this.maxNorm = maxNorm;
        return this;
    }

    /** The global gradient norm of the last step before clipping (NaN before the first step, or without clipping). */
    public double lastGradNorm() { return lastNorm; }

    /** Elements of this rank's shard (the optimizer state per state tensor is this many floats). */
    public int shardSize() { return shardSize; }

    /** The wrapped optimizer (over the shard). */
    public Optimizer inner() { return inner; }

    /**
     * dst[at .. at + len) = flat elements [from, from + len) of the parameters (or of their
     * gradients: zeros where a parameter has none), zeros past the last parameter (the padding).
     */
    private void copyRange(long from, int len, boolean grads, Tensor dst, int at) {
        try (Tensor out = dst.narrow(0, at, len)) {
            int done = 0;
            for (int i = firstParam(from); done < len; i++) {
                long pos = from + done;
                if (i >= params.size() || pos >= n) {                      // padding
                    try (Tensor rest = out.narrow(0, done, len - done); Tensor z = Tensor.zeros(DType.F32, len - done)) {
                        rest.copyFrom(z);
                    }
                    return;
                }
                Tensor p = params.get(i);
                long inP = pos - offsets[i];
                int m = (int) Math.min(len - done, p.numel() - inP);
                try (Tensor slot = out.narrow(0, done, m)) {
                    Tensor src = grads ? p.grad() : p;
                    if (src == null) {
                        try (Tensor z = Tensor.zeros(DType.F32, m)) {
                            slot.copyFrom(z);
                        }
                    } else {
                        try (Tensor flat = src.reshape(Math.toIntExact(p.numel())); Tensor part = flat.narrow(0, Math.toIntExact(inP), m)) {
                            slot.copyFrom(part);
                        }
                    }
                }
                done += m;
            }
        }
    }

    /** The parameters' flat elements [from, from + len) (those below n) = src[at .. at + len). */
    private void writeRange(long from, int len, Tensor src, int at) {
        int done = 0;
        for (int i = firstParam(from); done < len && i < params.size() && from + done < n; i++) {
            Tensor p = params.get(i);
            long inP = from + done - offsets[i];
            int m = (int) Math.min(len - done, p.numel() - inP);
            try (Tensor flat = p.reshape(Math.toIntExact(p.numel())); Tensor slot = flat.narrow(0, Math.toIntExact(inP), m);
                 Tensor part = src.narrow(0, at + done, m)) {
                slot.copyFrom(part);
            }
            done += m;
        }
    }

    /** The parameter holding flat element pos (params.size() past the end). */
    private int firstParam(long pos) {
        int lo = 0, hi = params.size() - 1, found = params.size();
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (offsets[mid] <= pos) {
                if (pos < offsets[mid] + params.get(mid).numel()) return mid;
                lo = mid + 1;
            } else {
                found = mid;
                hi = mid - 1;
            }
        }
        return found;
    }

    @Override
    public void step() {
        steps++;
        int w = pg.size(), r0 = pg.rank();
        try (GradMode.Guard g = GradMode.noGrad(); Scope s = Scope.open()) {
            // reduce-scatter (AVG) the gradients chunk by chunk: [rank r's part of the chunk] for r < W
            for (int k0 = 0; k0 < shardSize; k0 += chunk) {
                int len = Math.min(chunk, shardSize - k0);
                try (Tensor in = Tensor.zeros(DType.F32, w * len); Tensor out = shardGrad.narrow(0, k0, len)) {
                    for (int r = 0; r < w; r++) copyRange((long) r * shardSize + k0, len, true, in, r * len);
                    pg.reduceScatter(out, in, ProcessGroup.ReduceOp.AVG).await();
                }
            }
            if (stage == 2) for (Tensor p : params) p.zeroGrad();
            // the shard from the parameters as they are now (a checkpoint or the caller may have set them)
            copyRange((long) r0 * shardSize, shardSize, false, shard, 0);
            if (!Double.isNaN(maxNorm)) {
                try (Tensor sq = Tensor.scalar(shardGrad.square().sum().item(), DType.F64)) {
                    pg.allReduce(sq, ProcessGroup.ReduceOp.SUM).await();
                    lastNorm = Math.sqrt(sq.item());
                }
                double coef = maxNorm / (lastNorm + 1e-6);
                if (coef < 1) shardGrad.copyFrom(shardGrad.mul(coef));
            }
            if (shard.grad() == null) shard.setGrad(Scope.escape(shardGrad.clone()));
            else shard.grad().copyFrom(shardGrad);
            inner.setLr(lr);
            inner.step();
            // all-gather the updated shards into every parameter, chunk by chunk
            for (int k0 = 0; k0 < shardSize; k0 += chunk) {
                int len = Math.min(chunk, shardSize - k0);
                try (Tensor all = Tensor.zeros(DType.F32, w * len); Tensor mine = shard.narrow(0, k0, len)) {
                    List<Tensor> slots = new ArrayList<>();
                    for (int r = 0; r < w; r++) slots.add(all.narrow(0, r * len, len));
                    pg.allGather(slots, mine.contiguous()).await();
                    for (int r = 0; r < w; r++) writeRange((long) r * shardSize + k0, len, all, r * len);
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
        shardGrad.close();
        super.close();
    }
}
