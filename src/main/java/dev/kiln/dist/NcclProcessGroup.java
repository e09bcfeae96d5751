package dev.kiln.dist;

import dev.kiln.backend.cuda.CudaAvailability;
import dev.kiln.backend.cuda.CudaBackend;
import dev.kiln.backend.cuda.CudaEvent;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import org.bytedeco.cuda.global.nccl;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;

/**
 * The {@code nccl} backend: collectives on CUDA tensors through NCCL (JavaCPP presets). Rank 0
 * calls {@code ncclGetUniqueId} and publishes the id's 128 bytes in the {@link TcpStore}; every
 * rank reads it and calls {@code ncclCommInitRank} on its device. Each collective is queued on the
 * CUDA stream of the tensor's backend ({@link CudaBackend#stream()}), so it runs after the kernels
 * that produced the tensor and before those that read the result, without a host sync; the Work
 * records a CUDA event behind it. {@link Work#await()} waits for that event while polling
 * {@code ncclCommGetAsyncError}; an NCCL error or the timeout passing aborts the communicator
 * ({@code ncclCommAbort}) and fails this and every later collective with a {@link DistException}.
 *
 * <p>All-gather goes through one temporary buffer ({@code n * count} elements) and device copies
 * into the output tensors, since NCCL wants one contiguous output. Needs a GPU and libnccl: see
 * {@link #unavailableReason()}. Tensors must stay open until their Work has finished.
 */
public final class NcclProcessGroup implements ProcessGroup {
    private static final int ID_BYTES = 128; // NCCL_UNIQUE_ID_BYTES
    private static volatile String unavailable;

    private final int rank, size;
    private final Duration timeout;
    private final CudaBackend cuda;
    private final ncclComm comm;
    private final TcpStore store;
    private final boolean ownsStore;
    private final Tensor token; // one element for barrier()
    private long seq;
    private volatile String aborted;
    private boolean released;

    /** Why NCCL cannot run here (no CUDA device, libnccl missing), or "" when it can. */
    public static String unavailableReason() {
        String r = unavailable;
        if (r == null) unavailable = r = probe();
        return r;
    }

    public static boolean isAvailable() { return unavailableReason().isEmpty(); }

    private static String probe() {
        if (!CudaAvailability.isAvailable()) return CudaAvailability.reason();
        try {
            Loader.load(nccl.class);
            int[] version = new int[1];
            int rc = nccl.ncclGetVersion(version);
            return rc == nccl.ncclSuccess ? "" : "nccl: ncclGetVersion failed (" + rc + ")";
        } catch (Throwable t) { // UnsatisfiedLinkError / NoClassDefFoundError when libnccl is absent
            return "nccl: libnccl could not be loaded (" + t + ")";
        }
    }

    /** The NCCL version as NCCL encodes it (e.g. 22805 for 2.28.5); requires {@link #isAvailable()}. */
    public static int version() {
        int[] v = new int[1];
        check(nccl.ncclGetVersion(v), "ncclGetVersion");
        return v[0];
    }

    private NcclProcessGroup(TcpStore store, boolean ownsStore, String name, int rank, int size, int device, Duration timeout) {
        if (!isAvailable()) throw new DistException("nccl process group: " + unavailableReason());
        if (size < 1 || rank < 0 || rank >= size)
            throw new IllegalArgumentException("nccl process group: rank " + rank + " is not in a world of size " + size);
        this.rank = rank;
        this.size = size;
        this.timeout = timeout;
        this.store = store;
        this.ownsStore = ownsStore;
        this.cuda = CudaBackend.of(device);
        ncclUniqueId id = uniqueId(store, "kiln/pg/" + name + "/nccl-id");
        cuda.makeCurrent();
        this.comm = new ncclComm();
        int rc = nccl.ncclCommInitRank(comm, size, id, rank);
        if (rc != nccl.ncclSuccess)
            throw new DistException("nccl process group: ncclCommInitRank(rank " + rank + " of " + size + ", device " + device + ") failed: " + errorString(rc));
        this.token = Tensor.empty(cuda, DType.F32, 1);
    }

    /** A group over an open store (the caller's to close); device is this rank's CUDA device. */
    public static NcclProcessGroup create(TcpStore store, String name, int rank, int size, int device, Duration timeout) {
        return new NcclProcessGroup(store, false, name, rank, size, device, timeout);
    }

    /** A group that opens its own store on host:port (rank 0 hosts it); a group of one needs none. */
    public static NcclProcessGroup open(int rank, int size, String host, int port, int device, Duration timeout) {
        if (size == 1) return new NcclProcessGroup(null, false, "default", rank, size, device, timeout);
        TcpStore store = TcpStore.open(rank, host, port, timeout);
        try {
            return new NcclProcessGroup(store, true, "default", rank, size, device, timeout);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** Rank 0 makes the id and publishes its bytes; the others wait for them in the store. */
    private ncclUniqueId uniqueId(TcpStore store, String key) {
        ncclUniqueId id = new ncclUniqueId();
        if (rank == 0) {
            check(nccl.ncclGetUniqueId(id), "ncclGetUniqueId");
            byte[] bytes = new byte[ID_BYTES];
            for (int i = 0; i < ID_BYTES; i++) bytes[i] = id.internal(i);
            if (store != null) store.set(key, bytes);
        } else {
            byte[] bytes = store.get(key);
            if (bytes.length != ID_BYTES)
                throw new DistException("nccl process group: store key '" + key + "' holds " + bytes.length + " bytes, not an NCCL id (" + ID_BYTES + ")");
            for (int i = 0; i < ID_BYTES; i++) id.internal(i, bytes[i]);
        }
        return id;
    }

    @Override public int rank() { return rank; }
    @Override public int size() { return size; }
    @Override public String backend() { return "nccl"; }
    @Override public Duration timeout() { return timeout; }
    /** This rank's CUDA device: NCCL takes only tensors there. */
    @Override public CudaBackend tensorBackend() { return cuda; }

    @Override
    public Work allReduce(Tensor t, ReduceOp op) {
        Pointer p = address("allReduce", t);
        return recordAfter(launch("allReduce", () -> nccl.ncclAllReduce(p, p, t.numel(), ncclType(t.dtype()), ncclOp(op), comm, cuda.stream().handle())));
    }

    @Override
    public Work broadcast(Tensor t, int root) {
        if (root < 0 || root >= size)
            throw new IllegalArgumentException("nccl broadcast: root " + root + " is not a rank of a group of size " + size);
        Pointer p = address("broadcast", t);
        return recordAfter(launch("broadcast", () -> nccl.ncclBroadcast(p, p, t.numel(), ncclType(t.dtype()), root, comm, cuda.stream().handle())));
    }

    @Override
    public Work allGather(List<Tensor> out, Tensor in) {
        if (out.size() != size)
            throw new IllegalArgumentException("nccl allGather: got " + out.size() + " output tensors for a group of size " + size);
        Pointer src = address("allGather", in);
        for (Tensor o : out) {
            address("allGather", o);
            if (o.dtype() != in.dtype() || o.numel() != in.numel())
                throw new IllegalArgumentException("nccl allGather: output " + o.dtype().pyName() + Shape.str(o.shape()) + " does not match input "
                        + in.dtype().pyName() + Shape.str(in.shape()));
        }
        int count = (int) in.numel();
        Tensor all = Tensor.uninitialized(cuda, in.dtype(), Math.multiplyExact(size, count));
        try {
            Pointer dst = address("allGather", all);
            String what = launch("allGather", () -> nccl.ncclAllGather(src, dst, count, ncclType(in.dtype()), comm, cuda.stream().handle()));
            for (int r = 0; r < size; r++) {
                try (Tensor block = all.narrow(0, r * count, count)) {
                    cuda.copy(block, out.get(r)); // queued behind the all-gather on the same stream
                }
            }
            return recordAfter(what);
        } finally {
            all.close(); // stream-ordered: the allocator reuses it only for later work on this stream
        }
    }

    @Override
    public Work reduceScatter(Tensor out, Tensor in, ReduceOp op) {
        if (in.dtype() != out.dtype() || in.numel() != out.numel() * size)
            throw new IllegalArgumentException("nccl reduceScatter: input is " + in.dtype().pyName() + Shape.str(in.shape()) + ", expected "
                    + out.numel() * size + " " + out.dtype().pyName() + " elements");
        Pointer src = address("reduceScatter", in), dst = address("reduceScatter", out);
        return recordAfter(launch("reduceScatter", () -> nccl.ncclReduceScatter(src, dst, out.numel(), ncclType(in.dtype()), ncclOp(op), comm, cuda.stream().handle())));
    }

    @Override
    public Work barrier() {
        return allReduce(token, ReduceOp.SUM);
    }

    // ---------------------------------------------------------------- queueing and waiting

    private interface NcclCall { int run(); }

    /** Queues one NCCL call on the stream; returns its name for messages ("nccl allReduce #3 (rank 0)"). */
    private synchronized String launch(String op, NcclCall call) {
        String what = "nccl " + op + " #" + (++seq) + " (rank " + rank + ")";
        if (aborted != null) throw new DistException(what + ": group aborted: " + aborted);
        cuda.makeCurrent();
        int rc = call.run();
        if (rc != nccl.ncclSuccess) {
            String msg = what + ": " + errorString(rc);
            abort(msg);
            throw new DistException(msg);
        }
        return what;
    }

    /** A Work that completes when everything queued so far on the stream has run. */
    private Work recordAfter(String what) {
        CudaEvent done = CudaEvent.create(false);
        done.record(cuda.stream());
        return new EventWork(what, done, System.nanoTime() + timeout.toNanos());
    }

    private final class EventWork implements Work {
        private final String what;
        private final CudaEvent event;
        private final long deadline;
        private volatile boolean finished;

        EventWork(String what, CudaEvent event, long deadline) {
            this.what = what;
            this.event = event;
            this.deadline = deadline;
        }

        @Override
        public synchronized void await() {
            while (!isCompleted()) {
                if (aborted != null) throw new DistException(what + ": group aborted: " + aborted);
                int[] err = new int[1];
                check(nccl.ncclCommGetAsyncError(comm, err), "ncclCommGetAsyncError");
                if (err[0] != nccl.ncclSuccess && err[0] != nccl.ncclInProgress) fail(what + ": " + errorString(err[0]));
                if (System.nanoTime() > deadline) fail(what + ": timed out after " + TcpStore.seconds(timeout) + " (a rank did not join)");
                LockSupport.parkNanos(100_000);
            }
        }

        private void fail(String msg) {
            abort(msg);
            throw new DistException(msg);
        }

        @Override
        public boolean isCompleted() {
            if (finished) return true;
            if (!event.isDone()) return false;
            finished = true;
            event.close();
            return true;
        }
    }

    // ---------------------------------------------------------------- arguments

    private Pointer address(String op, Tensor t) {
        if (t.isClosed()) throw new IllegalArgumentException("nccl " + op + ": tensor " + Shape.str(t.shape()) + " is closed");
        if (!(t.backend() instanceof CudaBackend b) || b.device() != cuda.device())
            throw new IllegalArgumentException("nccl " + op + ": tensor lives on " + t.backend().name() + ", not on cuda:" + cuda.device());
        if (!t.isContiguous())
            throw new IllegalArgumentException("nccl " + op + ": tensor " + Shape.str(t.shape()) + " is not contiguous; call contiguous() first");
        ncclType(t.dtype());
        return new DeviceAddress(t.numel() == 0 ? 0 : t.storage().devicePointer() + t.offset() * t.dtype().byteSize());
    }

    static int ncclType(DType t) {
        return switch (t) {
            case F32 -> nccl.ncclFloat32;
            case F64 -> nccl.ncclFloat64;
            case F16 -> nccl.ncclFloat16;
            case BF16 -> nccl.ncclBfloat16;
            case I32 -> nccl.ncclInt32;
            case I64 -> nccl.ncclInt64;
            case I8 -> nccl.ncclInt8;
            case BOOL -> throw new IllegalArgumentException("nccl: dtype bool is not supported");
        };
    }

    static int ncclOp(ReduceOp op) {
        return switch (op) {
            case SUM -> nccl.ncclSum;
            case AVG -> nccl.ncclAvg;
            case MAX -> nccl.ncclMax;
        };
    }

    /** A device address as a JavaCPP pointer (not owned, never freed). */
    private static final class DeviceAddress extends Pointer {
        DeviceAddress(long address) { this.address = address; }
    }

    private static String errorString(int rc) {
        return nccl.ncclGetErrorString(rc).getString() + " (" + rc + ")";
    }

    private static void check(int rc, String call) {
        if (rc != 0) throw new DistException("nccl: " + call + " failed with code " + rc);
    }

    // ---------------------------------------------------------------- failure and shutdown

    /** Aborts the communicator (queued work is dropped); a failing ncclCommAbort throws, naming the reason. */
    @Override
    public synchronized void abort(String reason) {
        if (aborted == null) aborted = reason;
        if (!released) {
            released = true;
            int rc = nccl.ncclCommAbort(comm); // gives up on queued work; never waits for other ranks
            if (rc != nccl.ncclSuccess)
                throw new DistException("nccl: ncclCommAbort failed: " + errorString(rc) + " (aborting because: " + reason + ")");
        }
    }

    /** Waits for queued work, then releases the communicator (and the store when this group opened it). */
    @Override
    public synchronized void close() {
        try {
            if (!released) {
                released = true;
                try {
                    cuda.stream().synchronize();
                    int rc = nccl.ncclCommDestroy(comm);
                    if (rc != nccl.ncclSuccess) throw new DistException("nccl: ncclCommDestroy failed: " + errorString(rc));
                } catch (RuntimeException e) { // the stream or the communicator is broken: do not leave it behind
                    int rc = nccl.ncclCommAbort(comm);
                    if (rc != nccl.ncclSuccess) e.addSuppressed(new DistException("nccl: ncclCommAbort failed: " + errorString(rc)));
                    throw e;
                } finally {
                    aborted = "group closed";
                }
            }
        } finally {
            token.close();
            if (ownsStore && store != null) store.close();
        }
    }
}
