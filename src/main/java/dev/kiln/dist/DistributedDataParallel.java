package dev.kiln.dist;

import dev.kiln.nn.Module;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Data parallel training over a {@link ProcessGroup}: every rank holds a replica of the module, runs
 * forward and backward on its own shard of the batch, and the gradients are averaged over the ranks
 * before the optimizer steps, so every replica takes the same step (torch's DistributedDataParallel).
 * <pre>
 * DistributedDataParallel ddp = DistributedDataParallel.builder(model, pg).build();  // broadcasts rank 0's state
 * Optimizer opt = ddp.wrap(new SGD(model.parameters(), 0.05, 0.9, 0, 0, false));
 * loss(ddp.forward(x), y).backward();   // buckets all-reduce while backward still runs
 * opt.step();                           // = ddp.finishGradients(); then the SGD step
 * </pre>
 * <b>Start.</b> The constructor broadcasts every parameter and buffer from rank 0.
 * <p><b>Buffers.</b> Each training-mode forward first broadcasts the buffers (BatchNorm running
 * statistics) from rank 0, as torch's {@code broadcast_buffers=True} does, so every rank evaluates
 * and checkpoints rank 0's statistics; {@link Builder#broadcastBuffers}(false) keeps them per rank.
 * <p><b>Buckets.</b> Parameters that require grad are taken in reverse registration order (roughly
 * the order backward produces their gradients) and packed into {@link GradBucket}s of at most
 * {@link Builder#bucketBytes} (default 25 MB; a larger parameter gets a bucket of its own; a dtype
 * change starts a new bucket). Each bucket all-reduces one flat buffer.
 * <p><b>Hooks and overlap.</b> A gradient hook on every parameter ({@code Tensor.addGradHook}, run by
 * autograd after each accumulation into the parameter's grad) counts accumulations. A parameter used
 * k times in the graph receives k accumulations per backward; DDP learns k from the first synced
 * backward (which therefore reduces everything at the end). From the second one on, a parameter is
 * ready after its k-th accumulation, and a bucket whose parameters are all ready starts its async
 * all-reduce at once, while backward continues; buckets start strictly in index order so that every
 * rank issues the same collectives in the same order. {@link #finishGradients()} starts the buckets
 * not started yet, waits for all and copies the averaged gradients back into the parameters'
 * {@code grad}. With {@link Builder#overlap}(false) nothing starts during backward: every bucket is
 * reduced in finishGradients (for measuring what overlap buys, or for graphs that change shape).
 * <p><b>Rules.</b> Call finishGradients (or step an optimizer returned by {@link #wrap}) after each
 * synced backward. A parameter that receives a gradient after its bucket started (a second backward
 * without finishGradients, or a graph that uses a parameter more often than in the first step) is
 * an error naming it: use {@link #noSync()} for accumulation, or overlap(false) for dynamic graphs.
 * <p><b>Parameters without a gradient.</b> A parameter that gets no gradient on a rank (unused in
 * its graph) contributes zeros, flagged as absent. After the all-reduce, a parameter that no rank had
 * a gradient for has none (the optimizer skips it, as in one process); one that some ranks had gets
 * sum / size. Parameters without a gradient in the first synced backward count as ready from the
 * start of every later one (so they do not hold back their bucket); if such a parameter gets a
 * gradient after its bucket started, that is the error above (use overlap(false)).
 * <p><b>noSync.</b> Inside {@code try (var s = ddp.noSync()) { ... backward ... }} hooks do nothing and
 * gradients accumulate locally; the next backward outside it reduces the accumulated sum.
 * <p>The wrapper is a Module that delegates forward, parameters, buffers, state dicts and mode to the
 * wrapped module (state dict keys have no "module." prefix). {@link #close()} frees the buckets and
 * disables the hooks; the wrapped module stays open and owned by the caller.
 */
public final class DistributedDataParallel extends Module {
    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

    private final Module module;
    private final ProcessGroup pg;
    private final boolean overlap, broadcastBuffers;
    private final List<GradBucket> buckets = new ArrayList<>();
    private final IdentityHashMap<Tensor, Integer> bucketOf = new IdentityHashMap<>();
    private final IdentityHashMap<Tensor, int[]> counts = new IdentityHashMap<>();  // {fired, expected (-1 unknown)}
    private final Map<Tensor, String> names = new IdentityHashMap<>();
    private boolean learned;
    private int nextLaunch;
    private int noSyncDepth;
    private boolean closed;

    /** Settings: bucket size (bytes) and overlap (default on). */
    public static final class Builder {
        private final Module module;
        private final ProcessGroup pg;
        private long bucketBytes = DEFAULT_BUCKET_BYTES;
        private boolean overlap = true;
        private boolean broadcastBuffers = true;

        private Builder(Module module, ProcessGroup pg) {
            this.module = module;
            this.pg = pg;
        }

        /** Upper bound of a bucket's gradient bytes (default 25 MB). */
        public Builder bucketBytes(long bytes) {
            if (bytes < 1) throw new IllegalArgumentException("DistributedDataParallel: bucket size must be positive, got " + bytes);
            bucketBytes = bytes;
            return this;
        }

        /** Start bucket all-reduces from the gradient hooks during backward (default); off reduces all in finishGradients. */
        public Builder overlap(boolean on) { overlap = on; return this; }

        /** Broadcast rank 0's buffers at the start of every training-mode forward (default on). */
        public Builder broadcastBuffers(boolean on) { broadcastBuffers = on; return this; }

        public DistributedDataParallel build() { return new DistributedDataParallel(this); }
    }

    public static Builder builder(Module module, ProcessGroup pg) { return new Builder(module, pg); }

    /** DDP with 25 MB buckets and overlap. */
    public DistributedDataParallel(Module module, ProcessGroup pg) { this(builder(module, pg)); }

    private DistributedDataParallel(Builder b) {
        if (b.module == null || b.pg == null) throw new IllegalArgumentException("DistributedDataParallel: module and process group are required");
        this.module = b.module;
        this.pg = b.pg;
        this.overlap = b.overlap;
        this.broadcastBuffers = b.broadcastBuffers;
        broadcastState();
        buildBuckets(b.bucketBytes);
    }

    public Module module() { return module; }
    public ProcessGroup processGroup() { return pg; }
    public int bucketCount() { return buckets.size(); }

    /** Parameter names per bucket, bucket 0 first (the order they are all-reduced). */
    public List<List<String>> bucketLayout() {
        List<List<String>> out = new ArrayList<>();
        for (GradBucket bk : buckets) out.add(bk.names);
        return out;
    }

    /** Buckets whose all-reduce has started and not been finished (for tests of the overlap). */
    int launchedBuckets() {
        int n = 0;
        for (GradBucket bk : buckets) if (bk.launched()) n++;
        return n;
    }

    private void broadcastState() {
        List<Work> pending = new ArrayList<>();
        for (Tensor t : module.parameters()) pending.add(pg.broadcast(t, 0));
        for (Tensor t : module.namedBuffers().values()) pending.add(pg.broadcast(t, 0));
        for (Work w : pending) w.await();
    }

    private void buildBuckets(long capBytes) {
        List<Map.Entry<String, Tensor>> ps = new ArrayList<>();
        for (var e : module.namedParameters().entrySet()) if (e.getValue().requiresGrad()) ps.add(e);
        List<Tensor> cur = new ArrayList<>();
        List<String> curNames = new ArrayList<>();
        long curBytes = 0;
        for (int i = ps.size() - 1; i >= 0; i--) {
            Tensor p = ps.get(i).getValue();
            long bytes = p.numel() * p.dtype().byteSize();
            boolean full = !cur.isEmpty() && (curBytes + bytes > capBytes || cur.getFirst().dtype() != p.dtype());
            if (full) {
                addBucket(cur, curNames);
                cur = new ArrayList<>();
                curNames = new ArrayList<>();
                curBytes = 0;
            }
            cur.add(p);
            curNames.add(ps.get(i).getKey());
            curBytes += bytes;
        }
        if (!cur.isEmpty()) addBucket(cur, curNames);
    }

    private void addBucket(List<Tensor> params, List<String> paramNames) {
        int index = buckets.size();
        buckets.add(new GradBucket(index, params, paramNames));
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            bucketOf.put(p, index);
            counts.put(p, new int[]{0, -1});
            names.put(p, paramNames.get(i));
            p.addGradHook(this::onGradient);
        }
    }

    // ------------------------------------------------------------------ hooks

    /** Runs after every accumulation into a parameter's grad (on the thread running backward). */
    private void onGradient(Tensor p) {
        if (closed || noSyncDepth > 0) return;
        int[] c = counts.get(p);
        GradBucket bucket = buckets.get(bucketOf.get(p));
        if (bucket.launched())
            throw new DistException("DistributedDataParallel: parameter '" + names.get(p) + "' received a gradient after bucket "
                    + bucket.index + " started its all-reduce (rank " + pg.rank() + "): call finishGradients() (or step the wrapped "
                    + "optimizer) after every backward, use noSync() to accumulate, or overlap(false) if the graph changes between steps");
        c[0]++;
        if (!overlap || !learned) return;
        if (c[0] == c[1]) bucket.ready++;
        while (nextLaunch < buckets.size() && buckets.get(nextLaunch).isReady()) buckets.get(nextLaunch++).launch(pg);
    }

    /**
     * Starts every bucket not started yet (in order), waits for all, and writes the averaged
     * gradients into the parameters. Call once after each synced backward, before the optimizer step.
     */
    public void finishGradients() {
        if (closed) throw new IllegalStateException("DistributedDataParallel: closed");
        if (noSyncDepth > 0) throw new IllegalStateException("DistributedDataParallel: finishGradients() inside noSync()");
        if (!learned) learnCounts();
        try {
            while (nextLaunch < buckets.size()) buckets.get(nextLaunch++).launch(pg);
            for (GradBucket bk : buckets) bk.finish();
        } catch (RuntimeException e) {
            for (GradBucket bk : buckets) bk.reset();
            throw e;
        } finally {
            nextLaunch = 0;
            for (int[] c : counts.values()) c[0] = 0;
        }
    }

    /**
     * The first synced backward's accumulation counts become the per-step expectation; parameters
     * that got none count as ready from the start of each backward (so they never hold back a bucket).
     */
    private void learnCounts() {
        boolean any = false;
        for (int[] c : counts.values()) any |= c[0] > 0;
        if (!any) return;
        for (int[] c : counts.values()) c[1] = c[0];
        for (GradBucket bk : buckets) {
            bk.readyAtStart = 0;
            for (Tensor p : bk.params) if (counts.get(p)[1] == 0) bk.readyAtStart++;
        }
        learned = true;
    }

    /** Gradient sync off until closed: backward passes inside accumulate locally. */
    public NoSync noSync() {
        noSyncDepth++;
        return new NoSync() {
            private boolean done;
            @Override public void close() {
                if (!done) noSyncDepth--;
                done = true;
            }
        };
    }

    /** The scope returned by {@link #noSync()}. */
    public interface NoSync extends AutoCloseable {
        @Override void close();
    }

    /** An optimizer whose {@code step()} first calls {@link #finishGradients()}; everything else goes to {@code opt}. */
    public Optimizer wrap(Optimizer opt) { return new SyncedOptimizer(this, opt); }

    // ------------------------------------------------------------------ Module delegation

    @Override
    public Tensor forward(Tensor x) {
        for (GradBucket bk : buckets)
            if (bk.launched())
                throw new IllegalStateException("DistributedDataParallel: forward while gradients of the last backward are still "
                        + "being reduced; call finishGradients() (or step the wrapped optimizer) first");
        if (broadcastBuffers && module.isTraining()) syncBuffers();
        return module.forward(x);
    }

    /** Rank 0's buffers onto every rank (no-op without buffers). */
    private void syncBuffers() {
        List<Work> pending = new ArrayList<>();
        for (Tensor t : module.namedBuffers().values()) pending.add(pg.broadcast(t, 0));
        for (Work w : pending) w.await();
    }

    @Override public LinkedHashMap<String, Tensor> namedParameters() { return module.namedParameters(); }
    @Override public LinkedHashMap<String, Tensor> namedBuffers() { return module.namedBuffers(); }
    @Override public LinkedHashMap<String, Tensor> stateDict() { return module.stateDict(); }
    @Override public void loadStateDict(Map<String, Tensor> state, boolean strict) { module.loadStateDict(state, strict); }
    @Override public Module setTraining(boolean on) { module.setTraining(on); return this; }
    @Override public boolean isTraining() { return module.isTraining(); }
    @Override public Map<String, Module> children() { return module.children(); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (GradBucket bk : buckets) bk.close();
    }

    @Override
    public String toString() {
        return "DistributedDataParallel(rank " + pg.rank() + " of " + pg.size() + ", " + buckets.size() + " buckets, overlap "
                + overlap + ")\n  " + module.toString().replace("\n", "\n  ");
    }
}
