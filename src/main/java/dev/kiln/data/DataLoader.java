package dev.kiln.data;

import dev.kiln.tensor.Generator;

import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Batches from a {@link Dataset}: fixed batch size, optional shuffling, optional drop-last, and a
 * background worker that prepares the next batches (bounded queue of 2) while the consumer trains.
 * <pre>
 * DataLoader loader = DataLoader.builder(train).batchSize(64).shuffle(42).dropLast(true).build();
 * for (int epoch = 0; epoch &lt; 10; epoch++)
 *     for (Batch b : loader)          // each iteration is one epoch, in a new order
 *         try (b) { ... b.x() ... b.y() ... }
 * </pre>
 * <b>Order.</b> Without shuffling, examples come in index order. With shuffling, epoch e uses the
 * permutation drawn by Fisher-Yates from {@code new Generator(seed + e)} (see {@link #order}), so a
 * run is reproducible and each epoch differs. Each {@link #iterator()} call runs the next epoch;
 * {@link #setEpoch} picks one explicitly (e.g. when resuming). A {@link Sampler} (e.g.
 * {@code dev.kiln.dist.DistributedSampler}) replaces this order: epoch e then uses its indices.
 * <p><b>Memory.</b> Batches are created on the worker thread (outside the consumer's Scope); the
 * consumer owns each batch it receives and closes it. At most one iteration is active per loader:
 * starting a new one, or {@link #close()}, stops the previous worker and frees the batches it had
 * prepared, so breaking out of a loop leaks nothing once the loader is closed or iterated again.
 */
public final class DataLoader implements Iterable<Batch>, AutoCloseable {
    private final Dataset dataset;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final boolean dropLast;
    private final boolean prefetch;
    private final Sampler sampler;
    private int epoch;
    private BatchIterator active;

    private DataLoader(Builder b) {
        this.dataset = b.dataset;
        this.batchSize = b.batchSize;
        this.shuffle = b.shuffle;
        this.seed = b.seed;
        this.dropLast = b.dropLast;
        this.prefetch = b.prefetch;
        this.sampler = b.sampler;
    }

    /** A loader with background prefetch. */
    public DataLoader(Dataset dataset, int batchSize, boolean shuffle, long seed, boolean dropLast) {
        this(builder(dataset).batchSize(batchSize).shuffle(shuffle).seed(seed).dropLast(dropLast));
    }

    public static Builder builder(Dataset dataset) { return new Builder(dataset); }

    /** Loader settings; defaults: batch size 1, no shuffle (seed 0), keep the last partial batch, prefetch on. */
    public static final class Builder {
        private final Dataset dataset;
        private int batchSize = 1;
        private boolean shuffle;
        private long seed;
        private boolean dropLast;
        private boolean prefetch = true;
        private Sampler sampler;

        private Builder(Dataset dataset) {
            if (dataset == null) throw new IllegalArgumentException("DataLoader: dataset is null");
            this.dataset = dataset;
        }

        public Builder batchSize(int n) {
            if (n <= 0) throw new IllegalArgumentException("DataLoader: batch size must be positive, got " + n);
            batchSize = n;
            return this;
        }

        /** Shuffle with the given seed. */
        public Builder shuffle(long seed) { this.shuffle = true; this.seed = seed; return this; }
        public Builder shuffle(boolean on) { this.shuffle = on; return this; }
        public Builder seed(long seed) { this.seed = seed; return this; }
        public Builder dropLast(boolean on) { this.dropLast = on; return this; }
        /** Prepare batches on a worker thread (default); off builds each batch in {@code next()}. */
        public Builder prefetch(boolean on) { this.prefetch = on; return this; }
        /** Take each epoch's example order from a sampler (shuffle and seed are then unused). */
        public Builder sampler(Sampler s) { this.sampler = s; return this; }
        public DataLoader build() { return new DataLoader(this); }
    }

    /** The example indices of each epoch, in order (a subset of the dataset is allowed). */
    public interface Sampler {
        /** Number of indices per epoch. */
        int length();

        /** The indices of an epoch ({@link #length()} of them, each in [0, dataset size)). */
        int[] indices(int epoch);
    }

    public Dataset dataset() { return dataset; }
    public int batchSize() { return batchSize; }

    /** Batches per epoch: floor(n / batch) with drop-last, else ceil(n / batch). */
    public int numBatches() {
        int n = sampler != null ? sampler.length() : dataset.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** The epoch the next {@link #iterator()} call runs. */
    public synchronized int epoch() { return epoch; }

    public synchronized void setEpoch(int e) {
        if (e < 0) throw new IllegalArgumentException("DataLoader: epoch must be >= 0, got " + e);
        epoch = e;
    }

    /** The example order of an epoch: identity without shuffling, else the epoch's permutation. */
    public int[] order(int epoch) {
        if (sampler != null) return sampler.indices(epoch);
        if (shuffle) return permutation(dataset.size(), seed + epoch);
        int[] p = new int[dataset.size()];
        for (int i = 0; i < p.length; i++) p[i] = i;
        return p;
    }

    /** 0..n-1 shuffled by Fisher-Yates from {@code new Generator(seed)} (the order of a shuffled epoch). */
    public static int[] permutation(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        Generator g = new Generator(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = g.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** Starts the next epoch (stopping an unfinished previous iteration of this loader). */
    @Override
    public synchronized Iterator<Batch> iterator() {
        if (active != null) active.close();
        int[] order = order(epoch++);
        int nb = numBatches();
        active = prefetch ? new PrefetchIterator(this, order, nb) : new BatchIterator(this, order, nb);
        return active;
    }

    /** Stops the active iteration, if any, freeing batches prepared but not yet handed out. */
    @Override
    public synchronized void close() {
        if (active != null) active.close();
        active = null;
    }

    /** Indices of batch b of an epoch's order. */
    int[] indicesOf(int[] order, int b) {
        int from = b * batchSize;
        return Arrays.copyOfRange(order, from, Math.min(from + batchSize, order.length));
    }

    /** Builds each batch on the consumer thread. */
    static class BatchIterator implements Iterator<Batch>, AutoCloseable {
        final DataLoader loader;
        final int[] order;
        final int numBatches;
        int produced;

        BatchIterator(DataLoader loader, int[] order, int numBatches) {
            this.loader = loader;
            this.order = order;
            this.numBatches = numBatches;
        }

        @Override public boolean hasNext() { return produced < numBatches; }

        @Override
        public Batch next() {
            if (!hasNext()) throw new NoSuchElementException("DataLoader: epoch finished");
            return loader.dataset.batch(loader.indicesOf(order, produced++));
        }

        @Override public void close() { produced = numBatches; }
    }
}
