package dev.kiln.dist;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The {@code cpu} backend: collectives over a TCP ring between processes (loopback or real hosts),
 * for CPU training and for testing every multi-rank path without GPUs. Ranks find each other
 * through a {@link TcpStore}, connect in a ring (see {@link RingTransport}) and run the ring
 * algorithms of {@link RingAlgorithms} on contiguous host tensors of dtype float32, float64, int32
 * or int64.
 *
 * <p>Every collective is queued on this group's own background thread and runs in call order; the
 * returned {@link Work} finishes when it is done. Each collective starts with a header check so
 * ranks that call different collectives (or different sizes) fail with a clear error instead of
 * mixing data. On any failure (lost peer, timeout, mismatch) the rank aborts the group: it closes
 * its sockets, which makes its neighbours fail too, and fails every queued and later collective.
 * The tensors of a collective must stay open and untouched until its Work has finished.
 */
public final class CpuProcessGroup implements ProcessGroup {
    private enum Op { ALL_REDUCE, BROADCAST, ALL_GATHER, REDUCE_SCATTER, BARRIER }

    private static final String[] OP_NAMES = {"allReduce", "broadcast", "allGather", "reduceScatter", "barrier"};

    private final int rank, size;
    private final Duration timeout;
    private final TcpStore store; // closed with the group when owned
    private final boolean ownsStore;
    private final RingTransport io; // null for a group of one
    private final RingAlgorithms ring;
    private final ExecutorService worker;
    private long seq;
    private volatile String aborted;

    private CpuProcessGroup(TcpStore store, boolean ownsStore, String name, int rank, int size, Duration timeout) {
        if (size < 1 || rank < 0 || rank >= size)
            throw new IllegalArgumentException("cpu process group: rank " + rank + " is not in a world of size " + size);
        if (timeout.isNegative() || timeout.isZero())
            throw new IllegalArgumentException("cpu process group: timeout must be positive, got " + timeout);
        this.rank = rank;
        this.size = size;
        this.timeout = timeout;
        this.store = store;
        this.ownsStore = ownsStore;
        this.io = size == 1 ? null : new RingTransport(store, "kiln/pg/" + name, rank, size, timeout);
        this.ring = size == 1 ? null : new RingAlgorithms(io, rank, size);
        this.worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "kiln-dist-cpu-r" + rank);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * A group over an open store (which stays the caller's to close). {@code name} keeps the keys
     * of several groups on one store apart; every rank of a group uses the same name.
     */
    public static CpuProcessGroup create(TcpStore store, String name, int rank, int size, Duration timeout) {
        return new CpuProcessGroup(store, false, name, rank, size, timeout);
    }

    /** A group that opens its own store on {@code host:port} (rank 0 hosts it) and closes it on close. */
    public static CpuProcessGroup open(int rank, int size, String host, int port, Duration timeout) {
        if (size == 1) return new CpuProcessGroup(null, false, "default", rank, size, timeout);
        TcpStore store = TcpStore.open(rank, host, port, timeout);
        try {
            return new CpuProcessGroup(store, true, "default", rank, size, timeout);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    @Override public int rank() { return rank; }
    @Override public int size() { return size; }
    @Override public String backend() { return "cpu"; }
    @Override public Duration timeout() { return timeout; }

    /** The store this group rendezvoused through (null for a group of one). */
    public TcpStore store() { return store; }

    @Override
    public Work allReduce(Tensor t, ReduceOp op) {
        MemorySegment buf = data("allReduce", t);
        long count = t.numel();
        return submit(Op.ALL_REDUCE, t.dtype(), count, op.ordinal(), () -> ring.allReduce(buf, count, t.dtype(), op));
    }

    @Override
    public Work broadcast(Tensor t, int root) {
        if (root < 0 || root >= size)
            throw new IllegalArgumentException("cpu broadcast: root " + root + " is not a rank of a group of size " + size);
        MemorySegment buf = data("broadcast", t);
        return submit(Op.BROADCAST, t.dtype(), t.numel(), root, () -> ring.broadcast(buf, root));
    }

    @Override
    public Work allGather(List<Tensor> out, Tensor in) {
        if (out.size() != size)
            throw new IllegalArgumentException("cpu allGather: got " + out.size() + " output tensors for a group of size " + size);
        MemorySegment src = data("allGather", in);
        MemorySegment[] dst = new MemorySegment[size];
        for (int r = 0; r < size; r++) {
            Tensor o = out.get(r);
            requireSame("allGather", "output " + r, o, in, in.numel());
            dst[r] = data("allGather", o);
        }
        return submit(Op.ALL_GATHER, in.dtype(), in.numel(), 0, () -> {
            MemorySegment.copy(src, 0, dst[rank], 0, src.byteSize()); // a no-op when out[rank] is in
            if (size > 1) ring.allGather(i -> dst[i], -1);
        });
    }

    @Override
    public Work reduceScatter(Tensor out, Tensor in, ReduceOp op) {
        MemorySegment src = data("reduceScatter", in);
        requireSame("reduceScatter", "input", in, out, out.numel() * size);
        MemorySegment dst = data("reduceScatter", out);
        DType t = in.dtype();
        long m = out.numel();
        return submit(Op.REDUCE_SCATTER, t, in.numel(), op.ordinal(), () -> {
            if (size == 1) {
                MemorySegment.copy(src, 0, dst, 0, dst.byteSize());
                return;
            }
            // reduce a copy: the ring folds received blocks into the buffer it reduces
            MemorySegment work = RingTransport.scratch(src.byteSize());
            MemorySegment.copy(src, 0, work, 0, src.byteSize());
            long bytes = m * t.byteSize();
            ring.reduceScatter(i -> work.asSlice(i * bytes, bytes), t, op, -1);
            MemorySegment mine = work.asSlice(rank * bytes, bytes);
            if (op == ReduceOp.AVG) RingReduce.divide(t, mine, m, size);
            MemorySegment.copy(mine, 0, dst, 0, bytes);
        });
    }

    @Override
    public Work barrier() {
        return submit(Op.BARRIER, DType.I32, size, 0, () -> {
            MemorySegment token = RingTransport.scratch(4L * size); // one element per block: every step moves data
            ring.allReduce(token.asSlice(0, 4L * size), size, DType.I32, ReduceOp.SUM);
        });
    }

    // ---------------------------------------------------------------- running collectives

    private interface Body { void run() throws RingTransport.RingFailure; }

    private synchronized Work submit(Op op, DType t, long count, int arg, Body body) {
        long id = ++seq;
        String what = "cpu " + OP_NAMES[op.ordinal()] + " #" + id + " (rank " + rank + ")";
        CompletableFuture<Void> done = new CompletableFuture<>();
        Runnable task = () -> {
            try {
                run(op, id, t, count, arg, body, what);
                done.complete(null);
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
            }
        };
        try {
            worker.execute(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            done.completeExceptionally(new DistException(what + ": group is closed"));
        }
        return new HostCollective.FutureWork(done);
    }

    private void run(Op op, long id, DType t, long count, int arg, Body body, String what) {
        if (aborted != null) throw new DistException(what + ": group aborted: " + aborted);
        if (size == 1) {
            runLocal(op, body, what);
            return;
        }
        try {
            long[] header = {op.ordinal(), id, t.ordinal(), count, arg};
            long[] theirs = ring.exchangeHeader(header);
            if (theirs != null) {
                String msg = what + ": rank " + io.prev() + " called " + describe(theirs) + " but this rank called " + describe(header);
                abort(msg);
                throw new DistException(msg);
            }
            body.run();
        } catch (RingTransport.RingFailure e) {
            String reason = io.failure() != null ? io.failure() : e.getMessage();
            abort(what + ": " + reason);
            throw new DistException(what + ": " + reason, e);
        }
    }

    private void runLocal(Op op, Body body, String what) {
        if (op == Op.ALL_GATHER || op == Op.REDUCE_SCATTER) {
            try {
                body.run();
            } catch (RingTransport.RingFailure e) {
                throw new DistException(what + ": " + e.getMessage(), e);
            }
        }
        // a group of one: all-reduce (any op, AVG divides by 1), broadcast and barrier change nothing
    }

    private static String describe(long[] h) {
        int op = (int) h[0];
        String name = op >= 0 && op < OP_NAMES.length ? OP_NAMES[op] : "op " + op;
        int dt = (int) h[2];
        String type = dt >= 0 && dt < DType.values().length ? DType.values()[dt].pyName() : "dtype " + dt;
        return name + " #" + h[1] + " on " + h[3] + " " + type + " elements";
    }

    // ---------------------------------------------------------------- argument checks

    private MemorySegment data(String op, Tensor t) { return HostCollective.data("cpu", op, t); }

    private static void requireSame(String op, String which, Tensor a, Tensor ref, long numel) {
        HostCollective.requireSame("cpu", op, which, a, ref, numel);
    }

    // ---------------------------------------------------------------- failure and shutdown

    @Override
    public void abort(String reason) {
        synchronized (this) {
            if (aborted == null) aborted = reason;
        }
        if (io != null) io.fail("group aborted: " + reason);
    }

    /** The reason this group was aborted, or null. */
    public String abortReason() { return aborted; }

    @Override
    public void close() {
        abort("group closed");
        worker.shutdown();
        if (io != null) io.close();
        if (ownsStore && store != null) store.close();
    }
}
