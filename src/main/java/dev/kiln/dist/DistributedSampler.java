package dev.kiln.dist;

import dev.kiln.data.DataLoader;

/**
 * Disjoint shards of a data set per rank, the role torch's DistributedSampler plays. Plug it into a
 * loader with {@code DataLoader.builder(ds).batchSize(b).sampler(sampler)}.
 * <p><b>Order.</b> Epoch e starts from the same permutation a shuffled single-process DataLoader
 * uses ({@link DataLoader#permutation}{@code (n, seed + e)}), or from 0..n-1 without shuffling.
 * Rank r takes positions r, r + size, r + 2 size, ... of it (strided), so batch i of every rank
 * together holds positions [i B size, (i + 1) B size) of the permutation: the same examples as batch
 * i of one process loading batches of B size with the same seed. With a mean loss and gradients
 * averaged over ranks (DDP), training on size ranks with batch B then equals one process with batch
 * B size, exactly when n is a multiple of size (every rank then has the same batch sizes).
 * <p><b>Blocked layout.</b> {@link #blocked(int)} keeps the same global batches but gives rank r the
 * r-th contiguous block of B positions inside each global batch of B size positions. Batch i of
 * rank r is then exactly micro-batch i size + r of one process loading batches of B, so DDP over
 * size ranks is reproduced <i>bit for bit</i> by one process with batch B and size accumulation
 * steps (per-rank means scaled by 1/size sum to the same floats as the ranks' average, because
 * the scale is a power of two for 2 or 4 ranks). {@code kiln train} uses this layout. In a last,
 * partial global batch each rank takes an equal contiguous share.
 * <p><b>Uneven sizes.</b> When n is not a multiple of size, {@link Tail#PAD} (the default, as torch)
 * repeats the first positions of the permutation so every rank gets ceil(n / size) examples (a few
 * examples count twice per epoch); {@link Tail#DROP} leaves out the last n mod size positions so every
 * rank gets floor(n / size) (a few examples are skipped, a different few each epoch).
 */
public final class DistributedSampler implements DataLoader.Sampler {
    /** What to do with the n mod size examples that do not divide evenly. */
    public enum Tail { PAD, DROP }

    private final int n, rank, size;
    private final boolean shuffle;
    private final long seed;
    private final Tail tail;
    private final int block;   // 0: strided; else examples per rank per global batch

    public DistributedSampler(int datasetSize, int rank, int size, boolean shuffle, long seed, Tail tail) {
        this(datasetSize, rank, size, shuffle, seed, tail, 0);
    }

    private DistributedSampler(int datasetSize, int rank, int size, boolean shuffle, long seed, Tail tail, int block) {
        if (size < 1 || rank < 0 || rank >= size)
            throw new IllegalArgumentException("DistributedSampler: rank " + rank + " outside [0, " + size + ")");
        if (datasetSize < 0) throw new IllegalArgumentException("DistributedSampler: dataset size " + datasetSize + " < 0");
        if (tail == Tail.PAD && datasetSize == 0 && size > 0)
            throw new IllegalArgumentException("DistributedSampler: cannot pad an empty dataset");
        this.n = datasetSize;
        this.rank = rank;
        this.size = size;
        this.shuffle = shuffle;
        this.seed = seed;
        this.tail = tail;
        this.block = block;
    }

    /** The same shards in the blocked layout for per-rank batches of {@code perRankBatch} (see above). */
    public DistributedSampler blocked(int perRankBatch) {
        if (perRankBatch < 1) throw new IllegalArgumentException("DistributedSampler: per-rank batch " + perRankBatch + " < 1");
        return new DistributedSampler(n, rank, size, shuffle, seed, tail, perRankBatch);
    }

    /** Shuffled shards for the group's rank, padded to equal length. */
    public static DistributedSampler of(ProcessGroup pg, int datasetSize, long seed) {
        return new DistributedSampler(datasetSize, pg.rank(), pg.size(), true, seed, Tail.PAD);
    }

    public int rank() { return rank; }
    public int worldSize() { return size; }

    @Override
    public int length() {
        return tail == Tail.PAD ? (n + size - 1) / size : n / size;
    }

    @Override
    public int[] indices(int epoch) {
        int[] order = shuffle ? DataLoader.permutation(n, seed + epoch) : identity(n);
        int len = length();
        int[] out = new int[len];
        for (int k = 0; k < len; k++) {
            int pos = block == 0 ? rank + k * size : blockedPosition(k, len);
            out[k] = order[pos % n];   // positions past n (PAD only) wrap to the start
        }
        return out;
    }

    /** Position of this rank's k-th example: its block inside global batch k / block. */
    private int blockedPosition(int k, int len) {
        long global = (long) block * size, base = (k / block) * global;
        long remaining = (long) len * size - base;          // positions left, a multiple of size
        int j = k % block;
        long share = remaining >= global ? block : remaining / size;
        return (int) (base + rank * share + j);
    }

    private static int[] identity(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        return p;
    }

    @Override
    public String toString() {
        return "DistributedSampler(rank " + rank + " of " + size + ", " + n + " examples, " + length() + " per rank, "
                + (shuffle ? "shuffled seed " + seed : "in order") + ", " + tail + (block == 0 ? ", strided" : ", blocked by " + block) + ")";
    }
}
