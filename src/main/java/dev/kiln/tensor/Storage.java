package dev.kiln.tensor;

import dev.kiln.backend.Backend;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A reference-counted block of memory owned by a backend. Tensors (and views) retain it; the last
 * release frees it at once. A {@link Cleaner} frees memory whose tensors were dropped unclosed.
 */
public final class Storage {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final AtomicInteger LIVE = new AtomicInteger();
    private static final java.util.concurrent.atomic.AtomicLong FREED = new java.util.concurrent.atomic.AtomicLong();
    private static final java.util.concurrent.atomic.AtomicLong LIVE_BYTES = new java.util.concurrent.atomic.AtomicLong();
    /** Storages released by the close of their last tensor (the rest of FREED was freed by the Cleaner). */
    private static final java.util.concurrent.atomic.LongAdder CLOSED = new java.util.concurrent.atomic.LongAdder();

    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Backend backend;
    private final MemorySegment segment; // null for device storage
    private long devicePtr;
    private long deviceBytes;
    private final AtomicInteger refs = new AtomicInteger(1);
    /** Data derived from read-only contents (see {@link #derived}); dropped on the last release. */
    private volatile java.util.concurrent.ConcurrentHashMap<Object, Object> derived;
    private volatile boolean sealed;
    private volatile boolean appendable;
    private final Cleaner.Cleanable cleanable;

    /** The release action holds only the block, never the Storage, so the Cleaner can run. */
    private record Release(HostAllocator.Block block, long bytes) implements Runnable {
        public void run() {
            HostAllocator.free(block);
            FREED.incrementAndGet();
            LIVE.decrementAndGet();
            LIVE_BYTES.addAndGet(-bytes);
        }
    }

    /** Allocates zero-filled host memory (64-byte aligned), reusing cached blocks when possible. */
    public static Storage allocateHost(Backend backend, long bytes) { return allocateHost(backend, bytes, true); }

    /**
     * Host memory (64-byte aligned) whose contents are unspecified unless zero is set: for outputs
     * that the kernel writing them overwrites entirely (see {@link Backend#allocateUninitialized}).
     */
    public static Storage allocateHost(Backend backend, long bytes, boolean zero) {
        HostAllocator.Block b = HostAllocator.allocate(bytes, zero);
        MemorySegment seg = MemorySegment.ofAddress(b.aligned()).reinterpret(bytes);
        return new Storage(backend, seg, b, bytes);
    }

    private Storage(Backend backend, MemorySegment segment, HostAllocator.Block block, long bytes) {
        this.backend = backend;
        this.segment = segment;
        LIVE.incrementAndGet();
        notePeak(LIVE_BYTES.addAndGet(bytes));
        this.cleanable = CLEANER.register(this, new Release(block, bytes));
    }

    /** Returns cached free host blocks to the system. */
    public static void emptyCache() { HostAllocator.emptyCache(); }

    /** Bytes held in the host allocator's cache of free blocks. */
    public static long cachedBytes() { return HostAllocator.cachedBytes(); }

    /**
     * Device memory of a non-host backend (e.g. CUDA): ptr is the device address; release runs once
     * when the last tensor lets go (or the Cleaner finds it unreachable) and must not reference this
     * Storage. Host reads of such storage fail with a clear error.
     */
    public static Storage device(Backend backend, long ptr, long bytes, Runnable release) {
        return new Storage(backend, ptr, bytes, release);
    }

    private Storage(Backend backend, long ptr, long bytes, Runnable release) {
        this.backend = backend;
        this.segment = null;
        this.devicePtr = ptr;
        this.deviceBytes = bytes;
        LIVE.incrementAndGet();
        notePeak(LIVE_BYTES.addAndGet(bytes));
        this.cleanable = CLEANER.register(this, () -> {
            release.run();
            FREED.incrementAndGet();
            LIVE.decrementAndGet();
            LIVE_BYTES.addAndGet(-bytes);
        });
    }

    /** Wraps memory owned elsewhere (e.g. a memory-mapped file); freeing it is the owner's job. */
    public static Storage wrap(Backend backend, MemorySegment segment) {
        return new Storage(backend, segment);
    }

    private Storage(Backend backend, MemorySegment segment) {
        this.backend = backend;
        this.segment = segment;
        this.cleanable = null;
    }

    public Backend backend() { return backend; }
    /**
     * The memory; fails with a clear error once the storage was freed or, for wrapped (memory-mapped)
     * memory, once its owner closed the mapping: Kiln never reads freed memory through a Storage.
     * The segment itself is a raw view (like a pointer): hold it only while a tensor over this
     * storage is open.
     */
    public MemorySegment segment() {
        if (refs.get() <= 0) throw released();
        if (segment == null)
            throw new IllegalStateException("kiln: tensor memory lives on " + backend.name() + "; copy it to the CPU first (tensor.to(Backends.cpu()))");
        if (!segment.scope().isAlive())
            throw new IllegalStateException("kiln: tensor memory used after close: the memory-mapped file it views was closed");
        return segment;
    }

    private IllegalStateException released() {
        return new IllegalStateException("kiln: tensor memory used after close (" + byteSize() + " bytes, all tensors over it were closed)");
    }

    /** The device address of a non-host storage. */
    public long devicePointer() {
        if (refs.get() <= 0) throw released();
        if (segment != null) throw new IllegalStateException("kiln: host storage has no device pointer");
        return devicePtr;
    }

    public long byteSize() { return segment != null ? segment.byteSize() : deviceBytes; }

    /** True when this storage's memory can be read from the host (CPU storages). */
    public boolean isHost() { return segment != null; }

    /** Whether more than one tensor (a view, a clone of the handle) holds this storage now. */
    public boolean isShared() { return refs.get() > 1; }

    void retain() {
        int r;
        do {
            r = refs.get();
            if (r <= 0) throw released();
        } while (!refs.compareAndSet(r, r + 1));
    }

    /**
     * Data derived from this storage's contents and kept with it, e.g. a GEMM's packed copy of a
     * constant weight: made once per key by make and dropped when the storage is released (its
     * last tensor closed), so it lives exactly as long as the memory it was made from; a value
     * that is {@link AutoCloseable} is closed then (or on {@link #unseal}). Only for
     * constant memory ({@link #isConstant}), whose contents cannot change under the copy.
     */
    @SuppressWarnings("unchecked")
    public <T> T derived(Object key, java.util.function.Function<Object, T> make) {
        if (!isConstant()) throw new IllegalStateException("kiln: derived data needs constant (read-only or sealed) host memory");
        if (refs.get() <= 0) throw released();
        java.util.concurrent.ConcurrentHashMap<Object, Object> d = derived;
        if (d == null) {
            synchronized (this) {
                if ((d = derived) == null) derived = d = new java.util.concurrent.ConcurrentHashMap<>();
            }
        }
        return (T) d.computeIfAbsent(key, make);
    }

    /**
     * Lets ops extend a tensor in place into the unused part of this memory (see
     * {@link #appendAllowed}): set by an owner that allocated it with room to grow and hands out
     * only prefixes of it, such as a decoder's preallocated key/value cache.
     */
    public void allowAppend() { appendable = true; }

    /** Whether the owner lets ops write past the tensors that view this memory ({@link #allowAppend}). */
    public boolean appendAllowed() { return appendable; }

    /**
     * True for host memory whose contents never change: a read-only file mapping, or memory its
     * owner {@link #seal sealed} (a model's weights). Kernels may keep data derived from it.
     */
    public boolean isConstant() { return segment != null && (sealed || segment.isReadOnly()); }

    /**
     * Declares that nothing writes this memory any more (the model readers seal the weights they
     * load and the tensors their load-time rewrites make): a promise by the owner, which lets
     * kernels keep derived copies ({@link #derived}, e.g. packed GEMM weights).
     */
    public void seal() { sealed = true; }

    /**
     * Takes back {@link #seal}: the owner is about to write this memory (a TorchScript program
     * updating a parameter in place). Data derived from it is dropped, so no kernel reads a stale
     * packed copy.
     */
    public void unseal() {
        sealed = false;
        dropDerived();
    }

    /** Drops the derived data, closing what holds memory of its own (an {@link AutoCloseable}, e.g. off-heap quantized weights). */
    private void dropDerived() {
        java.util.concurrent.ConcurrentHashMap<Object, Object> d = derived;
        derived = null;
        if (d == null) return;
        for (Object v : d.values())
            if (v instanceof AutoCloseable c) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException("kiln: closing data derived from a storage failed: " + e, e);
                }
            }
    }

    void release() {
        int r = refs.decrementAndGet();
        if (r == 0) dropDerived();
        if (r == 0 && cleanable != null) {
            CLOSED.increment();
            cleanable.clean();
        }
    }

    public boolean isReleased() { return refs.get() <= 0; }

    /** Host storages freed since start (explicitly or by the Cleaner), for leak tests. */
    public static long freedCount() { return FREED.get(); }

    /**
     * Storages freed by the Cleaner because their tensors became unreachable without being closed
     * (memory that lived until a GC happened to run): a correct program keeps this flat.
     */
    public static long freedByCleanerCount() { return FREED.get() - CLOSED.sum(); }

    /** Number of host storages currently allocated (for leak tests). */
    public static int liveCount() { return LIVE.get(); }

    /**
     * {@link #liveCount()} plus the storages the Cleaner has freed so far: unchanged when the GC
     * happens to collect some other code's dropped tensors meanwhile, so a leak test of one piece of
     * code compares this before and after instead of the bare live count.
     */
    public static long liveCountIgnoringCleaner() { return LIVE.get() + freedByCleanerCount(); }
    /** Bytes of host storage currently allocated (for leak tests). */
    public static long liveBytes() { return LIVE_BYTES.get(); }

    private static final java.util.concurrent.atomic.AtomicLong PEAK_BYTES = new java.util.concurrent.atomic.AtomicLong();

    private static void notePeak(long live) {
        long p;
        while (live > (p = PEAK_BYTES.get()) && !PEAK_BYTES.compareAndSet(p, live)) Thread.onSpinWait();
    }

    /** The most bytes of storage (host and device) alive at once since the last {@link #resetPeakBytes}. */
    public static long peakBytes() { return PEAK_BYTES.get(); }

    /** Starts a new peak measurement from the bytes alive now (e.g. per training step). */
    public static void resetPeakBytes() { PEAK_BYTES.set(LIVE_BYTES.get()); }

    // ---- element access by dtype (scalar paths, tests, I/O); each checks the storage is live ----

    public double getDouble(DType t, long index) {
        MemorySegment segment = segment();
        return switch (t) {
            case F32 -> segment.getAtIndex(F32, index);
            case F64 -> segment.getAtIndex(F64, index);
            case BF16 -> DType.bf16ToFloat(segment.getAtIndex(I16, index));
            case F16 -> Float.float16ToFloat(segment.getAtIndex(I16, index));
            case I8 -> segment.get(ValueLayout.JAVA_BYTE, index);
            case I32 -> segment.getAtIndex(I32, index);
            case I64 -> segment.getAtIndex(I64, index);
            case BOOL -> segment.get(ValueLayout.JAVA_BYTE, index) != 0 ? 1 : 0;
        };
    }

    public void setDouble(DType t, long index, double v) {
        MemorySegment segment = segment();
        switch (t) {
            case F32 -> segment.setAtIndex(F32, index, (float) v);
            case F64 -> segment.setAtIndex(F64, index, v);
            case BF16 -> segment.setAtIndex(I16, index, DType.floatToBf16((float) v));
            case F16 -> segment.setAtIndex(I16, index, Float.floatToFloat16((float) v));
            case I8 -> segment.set(ValueLayout.JAVA_BYTE, index, (byte) (long) v);
            case I32 -> segment.setAtIndex(I32, index, (int) (long) v);
            case I64 -> segment.setAtIndex(I64, index, (long) v);
            case BOOL -> segment.set(ValueLayout.JAVA_BYTE, index, (byte) (v != 0 ? 1 : 0));
        }
    }

    /** Exact integer access (I64 values beyond 2^53 survive). Floats are truncated toward zero. */
    public long getLong(DType t, long index) {
        MemorySegment segment = segment();
        return switch (t) {
            case I8 -> segment.get(ValueLayout.JAVA_BYTE, index);
            case I32 -> segment.getAtIndex(I32, index);
            case I64 -> segment.getAtIndex(I64, index);
            case BOOL -> segment.get(ValueLayout.JAVA_BYTE, index) != 0 ? 1 : 0;
            default -> (long) getDouble(t, index);
        };
    }

    public void setLong(DType t, long index, long v) {
        MemorySegment segment = segment();
        switch (t) {
            case I8 -> segment.set(ValueLayout.JAVA_BYTE, index, (byte) v);
            case I32 -> segment.setAtIndex(I32, index, (int) v);
            case I64 -> segment.setAtIndex(I64, index, v);
            case BOOL -> segment.set(ValueLayout.JAVA_BYTE, index, (byte) (v != 0 ? 1 : 0));
            default -> setDouble(t, index, v);
        }
    }
}
