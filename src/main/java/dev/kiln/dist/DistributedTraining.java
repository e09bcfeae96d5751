package dev.kiln.dist;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.data.DataLoader;
import dev.kiln.io.Safetensors;
import dev.kiln.nn.Module;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Tensor;

import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a training loop needs to run data parallel, in one place, so that {@code kiln train} changes
 * by a few calls: when the environment names a world of more than one rank (WORLD_SIZE, as
 * {@code kiln launch} sets it), it opens the process group ({@link ProcessGroups#fromEnv()}), wraps
 * the model in {@link DistributedDataParallel} (rank 0's initial parameters win), shards the loader
 * with a {@link DistributedSampler} (same seed, so batch i of all ranks together is batch i of one
 * process with the global batch), and makes the optimizer finish the gradient all-reduce before each
 * step. Logging, evaluation and checkpoints are for rank 0 ({@link #isMain()}, {@link #log}).
 * Without WORLD_SIZE (or with 1) every method is the identity and nothing is opened.
 * <p>{@link #main} compares the model tensors of two checkpoints (the distributed vs single-process
 * equivalence check, see docs/DISTRIBUTED.md).
 */
public final class DistributedTraining implements AutoCloseable {
    private final ProcessGroup pg;   // null: one process
    private DistributedDataParallel ddp;

    private DistributedTraining(ProcessGroup pg) { this.pg = pg; }

    /**
     * From the process environment: distributed when the world has more than one rank, read from
     * WORLD_SIZE ({@code kiln launch}, torchrun), else OMPI_COMM_WORLD_SIZE ({@code mpirun}); with
     * the MPI backend ({@link ProcessGroups#backendOf}) MPI itself says, so {@code srun} works too.
     */
    public static DistributedTraining fromEnv() { return fromEnv(System.getenv()); }

    public static DistributedTraining fromEnv(Map<String, String> env) {
        if (ProcessGroups.backendOf(env).equals("mpi")) {
            ProcessGroup pg = ProcessGroups.fromEnv(env);
            if (pg.size() > 1) return new DistributedTraining(pg);
            pg.close();
            return new DistributedTraining(null);
        }
        if (ProcessGroups.worldSize(env) <= 1) return new DistributedTraining(null);
        exitWithParent(env.get("KILN_PARENT_PID"));
        return new DistributedTraining(ProcessGroups.fromEnv(env));
    }

    /** A worker of {@code kiln launch} halts (exit 3) when the launcher's process ends, so it never outlives it. */
    private static void exitWithParent(String pid) {
        if (pid == null || pid.isBlank()) return;
        ProcessHandle.of(Long.parseLong(pid.trim())).ifPresentOrElse(
                parent -> parent.onExit().thenRun(() -> Runtime.getRuntime().halt(3)),
                () -> Runtime.getRuntime().halt(3));
    }

    /** Over an existing group (e.g. a thread rank of a LocalProcessGroup); closing this closes it. */
    public static DistributedTraining of(ProcessGroup pg) { return new DistributedTraining(pg); }

    public boolean isDistributed() { return pg != null; }

    /** The process group, or null in one process. */
    public ProcessGroup group() { return pg; }
    public boolean isMain() { return pg == null || pg.rank() == 0; }
    public int rank() { return pg == null ? 0 : pg.rank(); }
    public int size() { return pg == null ? 1 : pg.size(); }

    /** {@code out} on rank 0, a writer that drops everything on the others. */
    public PrintWriter log(PrintWriter out) {
        return isMain() ? out : new PrintWriter(Writer.nullWriter());
    }

    /**
     * Adds this rank's {@link DistributedSampler} (shuffled with seed, padded, blocked by the per-rank
     * batch so that one process with {@code --accumulate size} reproduces the run bit for bit) to a
     * loader; unchanged in one process.
     */
    public DataLoader.Builder shard(DataLoader.Builder loader, int datasetSize, long seed, int perRankBatch) {
        return pg == null ? loader : loader.sampler(DistributedSampler.of(pg, datasetSize, seed).blocked(perRankBatch));
    }

    /**
     * Where the model, its inputs and its gradients must live: the process group's tensor backend
     * (the rank's CUDA device for NCCL, the CPU otherwise; the CPU in one process).
     */
    public Backend device() {
        return pg == null ? Backends.cpu() : pg.tensorBackend();
    }

    /**
     * The model to train: a DDP wrapper (broadcasting rank 0's state now), or net itself. With a
     * group whose collectives take device tensors (NCCL) the parameters and buffers must already be
     * on {@link #device()}: Kiln's layers keep their parameter tensors in final fields, so a built
     * model cannot be moved in place; build it (and its inputs) there. A model elsewhere fails here
     * with a one-line error rather than inside the first all-reduce.
     */
    public Module wrap(Module net) {
        if (pg == null) return net;
        if (ddp != null) throw new IllegalStateException("DistributedTraining: wrap(Module) called twice");
        Backend dev = device();
        for (var e : net.stateDict().entrySet()) {
            if (e.getValue().backend() != dev)
                throw new IllegalStateException("DistributedTraining: the " + pg.backend() + " group takes tensors on " + where(dev)
                        + " but " + e.getKey() + " is on " + where(e.getValue().backend()) + "; build the model on dist.device()");
        }
        ddp = new DistributedDataParallel(net, pg);
        return ddp;
    }

    /** "cuda:0" for a CUDA device, else the backend's name ("cpu"). */
    static String where(Backend b) {
        return b.name().equals("cuda") ? b.toString() : b.name();
    }

    /** The optimizer to step: one that finishes DDP's gradient all-reduce first, or opt itself. */
    public Optimizer wrap(Optimizer opt) {
        if (pg == null) return opt;
        if (ddp == null) throw new IllegalStateException("DistributedTraining: wrap the model before the optimizer");
        return ddp.wrap(opt);
    }

    /** A one-line summary for the log ("" in one process). */
    public String describe() {
        if (pg == null) return "";
        return "data parallel: " + pg.size() + " ranks (" + pg.backend() + " backend), "
                + (ddp == null ? "" : ddp.bucketCount() + " gradient bucket(s), ") + "batch per rank";
    }

    /** Closes the DDP buckets and the process group (the model and optimizer stay with the caller). */
    @Override
    public void close() {
        if (ddp != null) ddp.close();
        if (pg != null) pg.close();
    }

    // ------------------------------------------------------------------ checkpoint comparison

    /** The largest difference between two checkpoints' model tensors, relative to the tensor's largest magnitude. */
    public record Difference(double maxRelative, String tensor, int tensors) {}

    /** Compares every "model.*" tensor of two Kiln checkpoints (same names and shapes required). */
    public static Difference compareCheckpoints(Path a, Path b) {
        try (Safetensors.Contents ca = Safetensors.read(a); Safetensors.Contents cb = Safetensors.read(b)) {
            double worst = 0;
            String worstName = "";
            int n = 0;
            for (var e : ca.tensors().entrySet()) {
                if (!e.getKey().startsWith("model.")) continue;
                Tensor tb = cb.tensors().get(e.getKey());
                if (tb == null || !java.util.Arrays.equals(tb.shape(), e.getValue().shape()))
                    throw new IllegalArgumentException("compare: " + e.getKey() + " is missing or has another shape in " + b);
                double rel = relative(e.getValue().toDoubleArray(), tb.toDoubleArray());
                n++;
                if (rel >= worst) {
                    worst = rel;
                    worstName = e.getKey();
                }
            }
            return new Difference(worst, worstName, n);
        }
    }

    /** max |x - y| / max |y|. */
    static double relative(double[] x, double[] y) {
        double diff = 0, scale = 0;
        for (int i = 0; i < x.length; i++) {
            diff = Math.max(diff, Math.abs(x[i] - y[i]));
            scale = Math.max(scale, Math.abs(y[i]));
        }
        return scale == 0 ? diff : diff / scale;
    }

    /** {@code java -cp ... dev.kiln.dist.DistributedTraining A.safetensors B.safetensors [tolerance]}: exit 1 above tolerance (1e-5). */
    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: DistributedTraining CHECKPOINT_A CHECKPOINT_B [tolerance, default 1e-5]");
            System.exit(2);
        }
        double tol = args.length > 2 ? Double.parseDouble(args[2]) : 1e-5;
        Difference d = compareCheckpoints(Path.of(args[0]), Path.of(args[1]));
        System.out.printf(java.util.Locale.ROOT, "%d model tensors, max relative difference %.3e (%s), tolerance %.1e: %s%n",
                d.tensors(), d.maxRelative(), d.tensor(), tol, d.maxRelative() <= tol ? "same" : "DIFFERENT");
        System.exit(d.maxRelative() <= tol ? 0 : 1);
    }
}
