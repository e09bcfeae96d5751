package dev.kiln.backend.cuda;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * A caching device-memory allocator in the style of PyTorch's CUDA caching allocator, independent of
 * CUDA: it talks to a {@link DeviceMemory}.
 *
 * <p>Sizes are rounded up to 512 bytes. Requests up to 1 MiB are "small" and carved out of 2 MiB
 * segments; larger requests get a segment rounded up to a multiple of 2 MiB. A freed block goes back
 * to its pool (small or large) and is merged with free neighbours of the same segment; an allocation
 * takes the best fitting free block (smallest that fits, lowest address on ties) and splits off the
 * rest when it is worth keeping (>= 512 bytes for small blocks, > 1 MiB for large ones). Device
 * memory is only returned by {@link #emptyCache()}, which frees every segment that is wholly unused.
 *
 * <p>When the device is out of memory, the allocator empties its cache and retries once; if that
 * fails too it throws {@link DeviceOutOfMemoryException} naming the requested and the free bytes.
 *
 * <p>All methods are thread-safe (one lock; device calls are made under it). Blocks are not tied to
 * streams: callers that free a block still in use by work queued on another stream must synchronize
 * first (the engine runs its kernels on one compute stream).
 */
public final class CachingAllocator {
    /** Granularity of every block size. */
    public static final long MIN_BLOCK = 512;
    /** Largest request served from the small pool. */
    public static final long SMALL_SIZE = 1L << 20;
    /** Size of a small-pool segment, and the rounding unit of large segments. */
    public static final long SEGMENT = 2L << 20;
    private static final long MAX_REQUEST = 1L << 60;

    /** A contiguous range of one device segment, either in use or in a free pool. */
    private static final class Block {
        final boolean small;
        long ptr;
        long size;
        boolean allocated;
        Block prev;
        Block next;

        Block(boolean small, long ptr, long size) {
            this.small = small;
            this.ptr = ptr;
            this.size = size;
        }

        boolean wholeSegment() {
            return prev == null && next == null;
        }
    }

    private static final Comparator<Block> BY_SIZE =
            Comparator.<Block>comparingLong(b -> b.size).thenComparingLong(b -> b.ptr);

    private final DeviceMemory device;
    private final TreeSet<Block> smallPool = new TreeSet<>(BY_SIZE);
    private final TreeSet<Block> largePool = new TreeSet<>(BY_SIZE);
    private final Map<Long, Block> inUse = new HashMap<>();
    private long bytesInUse;
    private long bytesReserved;
    private long peakInUse;
    private long peakReserved;
    private long deviceMallocs;
    private long deviceFrees;
    private long allocations;
    private long frees;

    public CachingAllocator(DeviceMemory device) {
        this.device = device;
    }

    /** The device this allocator draws from. */
    public DeviceMemory device() {
        return device;
    }

    /** Request size rounded up to the block granularity (0 becomes one minimal block). */
    public static long roundSize(long bytes) {
        if (bytes <= MIN_BLOCK) return MIN_BLOCK;
        return (bytes + MIN_BLOCK - 1) / MIN_BLOCK * MIN_BLOCK;
    }

    /** Size of the segment requested from the device for a rounded block size. */
    static long segmentSize(long rounded) {
        if (rounded <= SMALL_SIZE) return SEGMENT;
        return (rounded + SEGMENT - 1) / SEGMENT * SEGMENT;
    }

    /**
     * Returns the address of a block of at least {@code bytes} bytes (512-byte aligned relative to its
     * segment). Throws {@link DeviceOutOfMemoryException} when the device cannot provide it.
     */
    public synchronized long allocate(long bytes) {
        if (bytes < 0 || bytes > MAX_REQUEST) {
            throw new IllegalArgumentException("allocate: invalid size " + bytes + " bytes");
        }
        long size = roundSize(bytes);
        boolean small = size <= SMALL_SIZE;
        TreeSet<Block> pool = small ? smallPool : largePool;
        Block b = pool.ceiling(probe(size));
        if (b != null) {
            pool.remove(b);
        } else {
            b = newSegment(bytes, size, small);
        }
        if (shouldSplit(b, size)) split(b, size, pool);
        b.allocated = true;
        inUse.put(b.ptr, b);
        allocations++;
        bytesInUse += b.size;
        peakInUse = Math.max(peakInUse, bytesInUse);
        return b.ptr;
    }

    /** Returns a block to the cache; the device memory is kept for reuse. */
    public synchronized void free(long ptr) {
        Block b = inUse.remove(ptr);
        if (b == null) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "free: 0x%x was not allocated by this allocator or was already freed", ptr));
        }
        frees++;
        bytesInUse -= b.size;
        b.allocated = false;
        TreeSet<Block> pool = b.small ? smallPool : largePool;
        if (b.prev != null && !b.prev.allocated) b = merge(b.prev, b, pool);
        if (b.next != null && !b.next.allocated) b = merge(b, b.next, pool);
        pool.add(b);
    }

    /** Size of the block at ptr as handed out (the rounded size, possibly more if not split). */
    public synchronized long blockSize(long ptr) {
        Block b = inUse.get(ptr);
        if (b == null) throw new IllegalArgumentException(String.format(Locale.ROOT, "blockSize: 0x%x is not allocated", ptr));
        return b.size;
    }

    /** Frees every cached segment that has no block in use; returns the bytes given back to the device. */
    public synchronized long emptyCache() {
        return release(smallPool) + release(largePool);
    }

    /** Bytes in blocks handed out and not yet freed (rounded sizes). */
    public synchronized long bytesInUse() {
        return bytesInUse;
    }

    /** Bytes held from the device: in use plus cached. */
    public synchronized long bytesReserved() {
        return bytesReserved;
    }

    /** Highest {@link #bytesInUse()} since creation or {@link #resetPeaks()}. */
    public synchronized long peakBytesInUse() {
        return peakInUse;
    }

    /** Highest {@link #bytesReserved()} since creation or {@link #resetPeaks()}. */
    public synchronized long peakBytesReserved() {
        return peakReserved;
    }

    public synchronized void resetPeaks() {
        peakInUse = bytesInUse;
        peakReserved = bytesReserved;
    }

    /** Number of device mallocs made so far (cache misses that reached the device). */
    public synchronized long deviceMallocs() {
        return deviceMallocs;
    }

    /** Number of device frees made so far. */
    public synchronized long deviceFrees() {
        return deviceFrees;
    }

    /**
     * The counters for {@link dev.kiln.tensor.MemoryStats}: in use, peak in use, cached (reserved but
     * free), blocks handed out / given back, device mallocs / frees.
     */
    public synchronized dev.kiln.tensor.MemoryStats.Snapshot snapshot() {
        return new dev.kiln.tensor.MemoryStats.Snapshot(device.name(), bytesInUse, peakInUse, bytesReserved - bytesInUse,
                allocations, frees, deviceMallocs, deviceFrees);
    }

    /** One-line summary for logs and the CLI. */
    public synchronized String stats() {
        return String.format(Locale.ROOT, "%s: in use %s (peak %s), reserved %s (peak %s), %d blocks live, %d device mallocs",
                device.name(), human(bytesInUse), human(peakInUse), human(bytesReserved), human(peakReserved),
                inUse.size(), deviceMallocs);
    }

    private static Block probe(long size) {
        return new Block(false, Long.MIN_VALUE, size);
    }

    private Block newSegment(long requested, long size, boolean small) {
        long seg = segmentSize(size);
        long ptr = device.malloc(seg);
        if (ptr == 0) {
            emptyCache();
            ptr = device.malloc(seg);
            if (ptr == 0) throw outOfMemory(requested, seg);
        }
        deviceMallocs++;
        bytesReserved += seg;
        peakReserved = Math.max(peakReserved, bytesReserved);
        return new Block(small, ptr, seg);
    }

    private static boolean shouldSplit(Block b, long size) {
        long rest = b.size - size;
        return b.small ? rest >= MIN_BLOCK : rest > SMALL_SIZE;
    }

    private static void split(Block b, long size, TreeSet<Block> pool) {
        Block rest = new Block(b.small, b.ptr + size, b.size - size);
        rest.prev = b;
        rest.next = b.next;
        if (b.next != null) b.next.prev = rest;
        b.next = rest;
        b.size = size;
        pool.add(rest);
    }

    /** Merges free neighbour blocks a (lower) and b (upper); whichever was pooled leaves the pool. */
    private static Block merge(Block a, Block b, TreeSet<Block> pool) {
        pool.remove(a);
        pool.remove(b);
        a.size += b.size;
        a.next = b.next;
        if (b.next != null) b.next.prev = a;
        return a;
    }

    private long release(TreeSet<Block> pool) {
        List<Block> whole = new ArrayList<>();
        for (Block b : pool) if (b.wholeSegment()) whole.add(b);
        long released = 0;
        for (Block b : whole) {
            pool.remove(b);
            device.free(b.ptr);
            deviceFrees++;
            bytesReserved -= b.size;
            released += b.size;
        }
        return released;
    }

    private DeviceOutOfMemoryException outOfMemory(long requested, long segment) {
        long free = device.freeBytes();
        long total = device.totalBytes();
        String freeText = free < 0 ? "unknown" : human(free) + (total < 0 ? "" : " of " + human(total));
        String msg = String.format(Locale.ROOT,
                "%s: out of memory allocating %s (%d bytes requested, segment %d bytes); device free %s;"
                        + " this allocator holds %s reserved, %s in use; the cache was emptied and the allocation retried once",
                device.name(), human(requested), requested, segment, freeText, human(bytesReserved), human(bytesInUse));
        return new DeviceOutOfMemoryException(msg, requested, free);
    }

    /** Bytes as a short human-readable size, e.g. {@code 1.50 GiB}. */
    static String human(long bytes) {
        if (bytes < 1024) return bytes + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.2f %s", v, units[u]);
    }
}
