package dev.kiln.dist;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A process group on Open MPI ({@link MpiLibrary}, through the FFM API), for CPU clusters that
 * launch jobs with {@code mpirun} or {@code srun}: rank and size come from MPI itself. Each
 * collective is MPI's own (MPI_Allreduce, MPI_Bcast, MPI_Allgather, MPI_Reduce_scatter_block,
 * MPI_Barrier) on the tensors' off-heap memory, called by the group's one MPI thread
 * (MPI_THREAD_FUNNELED) in call order, so a {@link Work} finishes in the background like the TCP
 * ring's. The blocking calls, not MPI's non-blocking ones: Open MPI runs those on a generic
 * schedule (libnbc) that measured 2.2x slower here, 0.9 against 2.0 GB/s at 64 MB. AVG is a SUM
 * divided by the size afterwards (MPI has no average). Errors return as codes (MPI_ERRORS_RETURN)
 * and fail the collective with MPI's message. A watchdog ends this rank (exit 3, after printing
 * the collective and the reason) when a collective is still running after {@link #timeout()}: a
 * rank died, hangs, or called another collective (MPI does not check that the ranks agree);
 * mpirun then ends the whole job, the way MPI jobs end. One group per process: MPI is initialised
 * once and finalised by {@link #close()}.
 */
public final class MpiProcessGroup implements ProcessGroup {
    private static final long MAX_COUNT = 1L << 30;        // MPI counts are ints: larger tensors go in pieces
    private static boolean used;                            // MPI_Init_thread may run once per process

    private final MpiLibrary mpi;
    private final ExecutorService worker;
    private final int rank, size;
    private final Duration timeout;
    private volatile String aborted;
    private long seq;

    private MpiProcessGroup(MpiLibrary mpi, ExecutorService worker, int rank, int size, Duration timeout) {
        this.mpi = mpi;
        this.worker = worker;
        this.rank = rank;
        this.size = size;
        this.timeout = timeout;
    }

    /**
     * Initialises MPI on a new thread and returns the group of MPI_COMM_WORLD. When env has RANK or
     * WORLD_SIZE (a launcher set them) they must agree with MPI's.
     */
    public static synchronized MpiProcessGroup open(Duration timeout, Map<String, String> env) {
        if (used) throw new DistException("mpi: MPI was already initialised in this process (one MPI group per process)");
        MpiLibrary mpi = MpiLibrary.get();
        ExecutorService w = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "kiln-dist-mpi");
            t.setDaemon(true);
            return t;
        });
        int[] rs;
        try {
            rs = w.submit(() -> {
                try {
                    return init(mpi);
                } catch (DistException e) {
                    throw e;
                } catch (Throwable e) {
                    throw new DistException("mpi: initialisation failed: " + e, e);
                }
            }).get();
        } catch (ExecutionException e) {
            w.shutdown();
            throw e.getCause() instanceof DistException d ? d : new DistException("mpi: initialisation failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            w.shutdown();
            Thread.currentThread().interrupt();
            throw new DistException("mpi: interrupted while initialising");
        }
        used = true;
        check(env, "RANK", rs[0]);
        check(env, "WORLD_SIZE", rs[1]);
        return new MpiProcessGroup(mpi, w, rs[0], rs[1], timeout);
    }

    private static void check(Map<String, String> env, String name, int mpiValue) {
        String v = env.get(name);
        if (v != null && !v.isBlank() && !v.trim().equals(Integer.toString(mpiValue)))
            throw new DistException("mpi: " + name + "=" + v + " but MPI says " + mpiValue + " (launch with mpirun/srun, or unset " + name + ")");
    }

    /** On the MPI thread: MPI_Init_thread (FUNNELED), errors returned as codes, then {rank, size}. */
    private static int[] init(MpiLibrary mpi) throws Throwable {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment flag = a.allocate(4), out = a.allocate(4);
            call(mpi, (int) mpi.finalized.invokeExact(flag), "MPI_Finalized");
            if (flag.get(ValueLayout.JAVA_INT, 0) != 0) throw new DistException("mpi: MPI was finalised in this process; it cannot start again");
            call(mpi, (int) mpi.initialized.invokeExact(flag), "MPI_Initialized");
            if (flag.get(ValueLayout.JAVA_INT, 0) != 0) throw new DistException("mpi: MPI is already initialised in this process by other code");
            call(mpi, (int) mpi.initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL, MpiLibrary.THREAD_FUNNELED, out), "MPI_Init_thread");
            if (out.get(ValueLayout.JAVA_INT, 0) < MpiLibrary.THREAD_FUNNELED)
                throw new DistException("mpi: the library gives thread level " + out.get(ValueLayout.JAVA_INT, 0) + ", below MPI_THREAD_FUNNELED");
            call(mpi, (int) mpi.setErrhandler.invokeExact(mpi.world, mpi.errorsReturn), "MPI_Comm_set_errhandler");
            call(mpi, (int) mpi.commRank.invokeExact(mpi.world, out), "MPI_Comm_rank");
            int r = out.get(ValueLayout.JAVA_INT, 0);
            call(mpi, (int) mpi.commSize.invokeExact(mpi.world, out), "MPI_Comm_size");
            return new int[]{r, out.get(ValueLayout.JAVA_INT, 0)};
        }
    }

    private static void call(MpiLibrary mpi, int rc, String fn) {
        if (rc != 0) throw new DistException("mpi: " + fn + " failed: " + mpi.error(rc));
    }

    @Override public int rank() { return rank; }
    @Override public int size() { return size; }
    @Override public String backend() { return "mpi"; }
    @Override public Duration timeout() { return timeout; }

    /** "Open MPI v4.1.4" or the like. */
    public String libraryVersion() { return mpi.version(); }

    // ---------------------------------------------------------------- collectives

    @Override
    public Work allReduce(Tensor t, ReduceOp op) {
        MemorySegment buf = data("allReduce", t);
        DType dt = t.dtype();
        return submit("allReduce", (a, what) -> {
            pieces(what, buf, dt, (off, n) -> (int) mpi.allreduce.invokeExact(mpi.inPlace, buf.asSlice(off), n, mpi.datatype(dt), mpiOp(op), mpi.world));
            if (op == ReduceOp.AVG) RingReduce.divide(dt, buf, t.numel(), size);
        });
    }

    @Override
    public Work broadcast(Tensor t, int root) {
        if (root < 0 || root >= size) throw new IllegalArgumentException("mpi broadcast: root " + root + " is not a rank of a group of size " + size);
        MemorySegment buf = data("broadcast", t);
        DType dt = t.dtype();
        return submit("broadcast", (a, what) -> pieces(what, buf, dt, (off, n) -> (int) mpi.bcast.invokeExact(buf.asSlice(off), n, mpi.datatype(dt), root, mpi.world)));
    }

    @Override
    public Work allGather(List<Tensor> out, Tensor in) {
        if (out.size() != size) throw new IllegalArgumentException("mpi allGather: got " + out.size() + " output tensors for a group of size " + size);
        MemorySegment src = data("allGather", in);
        MemorySegment[] dst = new MemorySegment[size];
        for (int r = 0; r < size; r++) {
            HostCollective.requireSame("mpi", "allGather", "output " + r, out.get(r), in, in.numel());
            dst[r] = data("allGather", out.get(r));
        }
        DType dt = in.dtype();
        long bytes = src.byteSize();
        if (in.numel() > MAX_COUNT) throw new IllegalArgumentException("mpi allGather: " + in.numel() + " elements per rank; at most " + MAX_COUNT);
        return submit("allGather", (a, what) -> {
            MemorySegment all = a.allocate(Math.max(1, bytes * size), 64);
            int n = (int) in.numel();
            call(what, () -> (int) mpi.allgather.invokeExact(src, n, mpi.datatype(dt), all, n, mpi.datatype(dt), mpi.world));
            for (int r = 0; r < size; r++) MemorySegment.copy(all, r * bytes, dst[r], 0, bytes);
        });
    }

    @Override
    public Work reduceScatter(Tensor out, Tensor in, ReduceOp op) {
        MemorySegment src = data("reduceScatter", in);
        HostCollective.requireSame("mpi", "reduceScatter", "input", in, out, out.numel() * size);
        MemorySegment dst = data("reduceScatter", out);
        DType dt = in.dtype();
        if (out.numel() > MAX_COUNT) throw new IllegalArgumentException("mpi reduceScatter: " + out.numel() + " elements per rank; at most " + MAX_COUNT);
        int m = (int) out.numel();
        return submit("reduceScatter", (a, what) -> {
            call(what, () -> (int) mpi.reduceScatterBlock.invokeExact(src, dst, m, mpi.datatype(dt), mpiOp(op), mpi.world));
            if (op == ReduceOp.AVG) RingReduce.divide(dt, dst, m, size);
        });
    }

    @Override
    public Work barrier() {
        return submit("barrier", (a, what) -> call(what, () -> (int) mpi.barrier.invokeExact(mpi.world)));
    }

    private MemorySegment mpiOp(ReduceOp op) { return op == ReduceOp.MAX ? mpi.max : mpi.sum; }

    // ---------------------------------------------------------------- running collectives on the MPI thread

    private interface Body { void run(Arena a, String what) throws Throwable; }

    private interface Call { int run() throws Throwable; }

    private interface PieceCall { int run(long byteOffset, int count) throws Throwable; }

    private synchronized Work submit(String op, Body body) {
        String what = "mpi " + op + " #" + (++seq) + " (rank " + rank + ")";
        CompletableFuture<Void> done = new CompletableFuture<>();
        try {
            worker.execute(() -> {
                try (Arena a = Arena.ofConfined()) {
                    if (aborted != null) throw new DistException(what + ": group aborted: " + aborted);
                    body.run(a, what);
                    done.complete(null);
                } catch (DistException | IllegalArgumentException e) {
                    done.completeExceptionally(e.getMessage().startsWith("mpi") ? e : new DistException(what + ": " + e.getMessage(), e));
                } catch (Throwable e) {
                    done.completeExceptionally(new DistException(what + ": " + e, e));
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            done.completeExceptionally(new DistException(what + ": group is closed"));
        }
        return new HostCollective.FutureWork(done);
    }

    /** The buffer in pieces of at most MAX_COUNT elements, one call each, in order. */
    private void pieces(String what, MemorySegment buf, DType dt, PieceCall c) throws Throwable {
        long count = buf.byteSize() / dt.byteSize(), eb = dt.byteSize();
        long at = 0;
        do {
            long off = at * eb;
            int n = (int) Math.min(MAX_COUNT, count - at);
            call(what, () -> c.run(off, n));
            at += MAX_COUNT;
        } while (at < count);
    }

    /** One MPI call under the watchdog; a non-zero code fails the collective with MPI's message. */
    private void call(String what, Call c) throws Throwable {
        java.util.concurrent.ScheduledFuture<?> alarm = WATCHDOG.schedule(() -> {
            System.err.println("kiln: " + what + ": not finished after " + timeout.toSeconds()
                    + " s (a rank died, hangs, or called another collective); ending this rank (exit 3) so that mpirun ends the job");
            System.err.flush();
            Runtime.getRuntime().halt(3);
        }, timeout.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
        int rc;
        try {
            rc = c.run();
        } finally {
            alarm.cancel(false);
        }
        if (rc != 0) throw new DistException(what + ": " + mpi.error(rc));
    }

    /** Ends a rank whose collective outlives the timeout (see the class comment). */
    private static final java.util.concurrent.ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "kiln-dist-mpi-watchdog");
        t.setDaemon(true);
        return t;
    });

    private MemorySegment data(String op, Tensor t) {
        MemorySegment s = HostCollective.data("mpi", op, t);
        if (!s.isNative()) throw new IllegalArgumentException("mpi " + op + ": tensor memory is on the Java heap; MPI needs off-heap tensors");
        return s;
    }

    // ---------------------------------------------------------------- failure and shutdown

    /** Fails later collectives on this rank (the ones already running finish or meet the watchdog). */
    @Override
    public void abort(String reason) {
        synchronized (this) {
            if (aborted == null) aborted = reason;
        }
    }

    /** Finalises MPI (after the collectives already submitted), unless a collective timed out. */
    @Override
    public void close() {
        abort("group closed");
        try {
            worker.submit(() -> {
                try {
                    int rc = (int) mpi.finalizeMpi.invokeExact();
                    if (rc != 0) System.err.println("kiln: mpi: MPI_Finalize failed: " + mpi.error(rc));
                } catch (Throwable e) {
                    System.err.println("kiln: mpi: MPI_Finalize failed: " + e);
                }
                return null;
            }).get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            System.err.println("kiln: mpi: MPI_Finalize did not finish: " + e);
        } finally {
            worker.shutdown();
        }
    }
}
