package dev.kiln.tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Host memory for tensors: calloc/free through the FFM linker, 64-byte aligned, with a cache of
 * freed blocks by size so that training loops (which free and re-allocate the same shapes every
 * step) run without calling the C allocator. Why not an Arena per tensor: closing a shared arena
 * costs a thread handshake (~50-130 us measured here), more than a whole small training step.
 * <p>
 * The cache holds at most {@code kiln.cpu.cacheBytes} bytes (default 1 GiB); {@link #emptyCache()}
 * returns it to the system. Thread-safe.
 * <p>
 * Accounting (always on, see {@link MemoryStats#host()}): bytes of blocks handed out and not yet
 * freed (rounded sizes), their peak, bytes cached, and counts of allocations, frees and calls into
 * calloc/free. Blocks are counted when handed out and when given back, so the numbers hold whether
 * a block comes from the cache or from the C allocator.
 */
final class HostAllocator {
    private HostAllocator() {}

    private static final int ALIGN = 64;
    private static final MethodHandle CALLOC, FREE;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        CALLOC = linker.downcallHandle(libc.find("calloc").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        FREE = linker.downcallHandle(libc.find("free").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
    }

    private static final long CACHE_LIMIT = Long.getLong("kiln.cpu.cacheBytes", 1L << 30);
    private static final HashMap<Long, ArrayDeque<long[]>> CACHE = new HashMap<>();
    private static long cached;

    private static final AtomicLong IN_USE = new AtomicLong(), PEAK = new AtomicLong();
    private static final LongAdder ALLOCS = new LongAdder(), FREES = new LongAdder();
    private static final LongAdder SYSTEM_ALLOCS = new LongAdder(), SYSTEM_FREES = new LongAdder();

    /** A block: base pointer from calloc, aligned start, rounded size. */
    record Block(long base, long aligned, long size) {}

    static long roundSize(long bytes) {
        long b = Math.max(bytes, 1);
        long unit = b <= 4096 ? 64 : 4096;
        return (b + unit - 1) / unit * unit;
    }

    /** Zero-filled, 64-byte aligned memory of at least bytes. */
    static Block allocate(long bytes) { return allocate(bytes, true); }

    /**
     * 64-byte aligned memory of at least bytes; a reused cached block is zero-filled only when
     * zero is set (a fresh block from calloc is zero either way). Skipping the fill is for outputs
     * a kernel overwrites entirely: filling 32 MB costs ~1 ms here.
     */
    static Block allocate(long bytes, boolean zero) {
        long size = roundSize(bytes);
        synchronized (CACHE) {
            ArrayDeque<long[]> q = CACHE.get(size);
            if (q != null && !q.isEmpty()) {
                long[] b = q.pop();
                cached -= size;
                if (zero) MemorySegment.ofAddress(b[1]).reinterpret(size).fill((byte) 0);
                return handOut(new Block(b[0], b[1], size));
            }
        }
        long base = calloc(size + ALIGN);
        if (base == 0) {
            emptyCache();
            base = calloc(size + ALIGN);
            if (base == 0) throw new OutOfMemoryError("kiln: cannot allocate " + bytes + " bytes of host memory");
        }
        SYSTEM_ALLOCS.increment();
        long aligned = (base + ALIGN - 1) & -ALIGN;
        return handOut(new Block(base, aligned, size));
    }

    private static Block handOut(Block b) {
        ALLOCS.increment();
        PEAK.accumulateAndGet(IN_USE.addAndGet(b.size), Math::max);
        return b;
    }

    static void free(Block b) {
        FREES.increment();
        IN_USE.addAndGet(-b.size);
        synchronized (CACHE) {
            if (cached + b.size <= CACHE_LIMIT) {
                CACHE.computeIfAbsent(b.size, k -> new ArrayDeque<>()).push(new long[]{b.base, b.aligned});
                cached += b.size;
                return;
            }
        }
        release(b.base);
    }

    /** Returns every cached block to the C allocator. */
    static void emptyCache() {
        synchronized (CACHE) {
            for (ArrayDeque<long[]> q : CACHE.values()) for (long[] b : q) release(b[0]);
            CACHE.clear();
            cached = 0;
        }
    }

    static long cachedBytes() {
        synchronized (CACHE) { return cached; }
    }

    /** The allocator's counters now. */
    static MemoryStats.Snapshot stats() {
        return new MemoryStats.Snapshot("host", IN_USE.get(), PEAK.get(), cachedBytes(), ALLOCS.sum(), FREES.sum(),
                SYSTEM_ALLOCS.sum(), SYSTEM_FREES.sum());
    }

    /** Starts a new peak from the bytes in use now. */
    static void resetPeak() { PEAK.set(IN_USE.get()); }

    private static long calloc(long size) {
        try {
            return ((MemorySegment) CALLOC.invokeExact(1L, size)).address();
        } catch (Throwable t) {
            throw new IllegalStateException("kiln: calloc failed", t);
        }
    }

    private static void release(long base) {
        try {
            FREE.invokeExact(MemorySegment.ofAddress(base));
            SYSTEM_FREES.increment();
        } catch (Throwable t) {
            throw new IllegalStateException("kiln: free failed", t);
        }
    }
}
