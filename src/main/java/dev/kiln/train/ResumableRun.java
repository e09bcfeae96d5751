package dev.kiln.train;

import dev.kiln.data.Batch;
import dev.kiln.data.DataLoader;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Module;
import dev.kiln.optim.LrSchedule;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A step-based training run that can be killed at any moment (SIGKILL included) and resumed from
 * its last checkpoint with the same loss curve as a run that was never interrupted.
 * <p>
 * What makes a step reproducible, and where each part lives in the checkpoint
 * ({@link Checkpoint}, written atomically):
 * <ul>
 * <li>model parameters and buffers: the "model." tensors;</li>
 * <li>optimizer state (momentum buffers, Adam moments, step count, learning rate): the "optim."
 *     tensors;</li>
 * <li>data position: metadata {@code run.epoch}, {@code run.batch} (next batch of that epoch) and
 *     {@code run.step}; the order of an epoch is the loader's {@link DataLoader#order} (a pure
 *     function of its seed and the epoch), so no shuffle state needs saving;</li>
 * <li>randomness inside a step (Dropout): the optional step generator is reseeded before every step
 *     from (seed, step), so it needs no saved state either;</li>
 * <li>a per-step learning-rate schedule is replayed to the resumed step.</li>
 * </ul>
 * Batches are built on the calling thread from the loader's dataset (its prefetch worker is not
 * used); one optimizer step per batch.
 * <pre>
 * ResumableRun run = new ResumableRun(model, opt, loader).checkpointEvery(ckpt, 100);
 * if (Files.exists(ckpt)) run.resume(ckpt);
 * run.runUntil(10_000, (step, loss) -> log(step, loss));
 * </pre>
 */
public final class ResumableRun {
    /** Called after each step with its index (0-based) and loss. */
    @FunctionalInterface
    public interface Listener { void step(long step, double loss); }

    private final Module model;
    private final Optimizer opt;
    private final DataLoader loader;
    private Trainer.BatchLoss lossFn = (m, b) -> Loss.crossEntropy(m.forward(b.x()), b.y());
    private Generator stepRng;
    private long rngSeed;
    private LrSchedule schedule;
    private Path checkpoint;
    private int every;
    private Map<String, String> extraMetadata = Map.of();
    private int epoch, batch;
    private long step;
    private int[] order;

    public ResumableRun(Module model, Optimizer opt, DataLoader loader) {
        this.model = model;
        this.opt = opt;
        this.loader = loader;
    }

    /** The loss of a batch (default: cross-entropy of model.forward(x) against y). */
    public ResumableRun loss(Trainer.BatchLoss fn) { this.lossFn = fn; return this; }

    /** A generator (e.g. the one given to Dropout) reseeded from (seed, step) before every step. */
    public ResumableRun stepGenerator(Generator g, long seed) { this.stepRng = g; this.rngSeed = seed; return this; }

    /** A learning-rate schedule stepped after every optimizer step (created before {@link #resume}). */
    public ResumableRun schedule(LrSchedule s) { this.schedule = s; return this; }

    /** Saves a checkpoint to file (atomically) after every k steps. */
    public ResumableRun checkpointEvery(Path file, int k) {
        if (k < 1) throw new IllegalArgumentException("ResumableRun: checkpoint interval must be >= 1, got " + k);
        this.checkpoint = file;
        this.every = k;
        return this;
    }

    /** Further metadata written into every checkpoint (e.g. the model name). */
    public ResumableRun metadata(Map<String, String> meta) { this.extraMetadata = Map.copyOf(meta); return this; }

    /** Steps done so far (the index of the next step). */
    public long step() { return step; }
    public int epoch() { return epoch; }
    /** The next batch index within {@link #epoch()}. */
    public int batchInEpoch() { return batch; }

    /** Loads model, optimizer and position from a checkpoint written by this class; returns the step. */
    public long resume(Path file) {
        Map<String, String> meta = Checkpoint.load(file, model, opt);
        epoch = intMeta(file, meta, "run.epoch");
        batch = intMeta(file, meta, "run.batch");
        step = Long.parseLong(require(file, meta, "run.step"));
        if (batch < 0 || batch > loader.numBatches())
            throw new IllegalArgumentException(file + ": batch " + batch + " out of range for " + loader.numBatches() + " batches per epoch");
        order = null;
        if (schedule != null) for (long i = schedule.count(); i < step; i++) schedule.step();
        return step;
    }

    private static String require(Path file, Map<String, String> meta, String key) {
        String v = meta.get(key);
        if (v == null) throw new IllegalArgumentException(file + ": not a resumable checkpoint (no " + key + " in its metadata)");
        return v;
    }

    private static int intMeta(Path file, Map<String, String> meta, String key) {
        return Integer.parseInt(require(file, meta, key));
    }

    /** Runs steps until {@link #step()} reaches totalSteps, checkpointing as configured. */
    public void runUntil(long totalSteps, Listener listener) {
        model.train();
        while (step < totalSteps) {
            if (batch >= loader.numBatches()) {
                epoch++;
                batch = 0;
                order = null;
            }
            if (order == null) order = loader.order(epoch);
            double loss = runStep(indices(batch));
            if (listener != null) listener.step(step, loss);
            step++;
            batch++;
            if (checkpoint != null && step % every == 0) save(checkpoint);
        }
    }

    private int[] indices(int b) {
        int from = b * loader.batchSize();
        return Arrays.copyOfRange(order, from, Math.min(from + loader.batchSize(), order.length));
    }

    private double runStep(int[] idx) {
        if (stepRng != null) stepRng.manualSeed(mix(rngSeed, step));
        try (Scope s = Scope.open(); Batch b = loader.dataset().batch(idx)) {
            opt.zeroGrad();
            Tensor loss = lossFn.loss(model, b);
            double value = loss.item();
            loss.backward();
            opt.step();
            if (schedule != null) schedule.step();
            return value;
        }
    }

    /** Writes the model, optimizer and position now (atomic replace of file). */
    public void save(Path file) {
        LinkedHashMap<String, String> meta = new LinkedHashMap<>(extraMetadata);
        meta.put("run.epoch", Integer.toString(epoch));
        meta.put("run.batch", Integer.toString(batch));
        meta.put("run.step", Long.toString(step));
        Checkpoint.save(file, model, opt, meta);
    }

    /** A well-spread seed for step s (SplitMix64 finalizer of seed + s * golden gamma). */
    static long mix(long seed, long s) {
        long z = seed + (s + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
