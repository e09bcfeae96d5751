package dev.kiln.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Memory accounting per allocator, always on (atomic counters, no locks on the host path):
 * <ul>
 * <li>{@link #host()}: the host allocator behind every CPU tensor ({@code Storage.allocateHost}):
 *     bytes in blocks handed out (rounded to 64 B / 4 KiB), the peak, bytes in its free-block
 *     cache, and counts of allocations and frees (cache hits included) and of calls into the C
 *     allocator.</li>
 * <li>Device allocators (the CUDA caching allocator, one per device) register themselves by name
 *     when their backend is created; {@link #all()} lists them after the host.</li>
 * </ul>
 * Not counted: memory-mapped files (safetensors, ONNX weights, TorchScript archives). Their
 * tensors wrap the mapping ({@link Storage#wrap}); the mapping belongs to the file object that
 * made it and is released when that object is closed (or, for ONNX, when it becomes unreachable),
 * and its pages belong to the OS page cache. Scratch buffers kept per thread by kernels are
 * ordinary host blocks and are counted.
 * <pre>
 * MemoryStats.Snapshot before = MemoryStats.host();
 * ... train ...
 * long leaked = MemoryStats.host().bytesInUse() - before.bytesInUse();
 * </pre>
 */
public final class MemoryStats {
    private MemoryStats() {}

    /**
     * Counters of one allocator at one moment. bytesInUse and peakBytesInUse count blocks handed out
     * to tensors; cachedBytes are free blocks kept for reuse (held from the system, not in use);
     * allocations / frees count blocks handed out / given back; systemAllocations / systemFrees
     * count the calls that reached the underlying allocator (calloc/free, cudaMalloc/cudaFree).
     */
    public record Snapshot(String allocator, long bytesInUse, long peakBytesInUse, long cachedBytes,
                           long allocations, long frees, long systemAllocations, long systemFrees) {
        /** Bytes held from the system: in use plus cached. */
        public long bytesReserved() { return bytesInUse + cachedBytes; }

        /** Blocks handed out and not yet given back. */
        public long liveBlocks() { return allocations - frees; }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s: in use %d B (peak %d B), cached %d B, %d live blocks, %d allocations, %d system allocations",
                    allocator, bytesInUse, peakBytesInUse, cachedBytes, liveBlocks(), allocations, systemAllocations);
        }
    }

    private static final Map<String, Supplier<Snapshot>> DEVICES = new ConcurrentHashMap<>();

    /** The host allocator's counters now. */
    public static Snapshot host() { return HostAllocator.stats(); }

    /** Starts the host peak afresh from the bytes in use now. */
    public static void resetHostPeak() { HostAllocator.resetPeak(); }

    /** Storages (host and device) currently allocated and not yet freed. */
    public static int liveStorages() { return Storage.liveCount(); }

    /**
     * Storages freed by the Cleaner since start: tensors dropped without close, whose memory stayed
     * allocated until a GC noticed. Kiln's own code paths close what they make; see docs/RELIABILITY.md.
     */
    public static long freedByCleaner() { return Storage.freedByCleanerCount(); }

    /**
     * Registers a device allocator's counters under a name such as {@code "cuda:0"} (a second
     * registration under the same name replaces the first). Called by backends, not by users.
     */
    public static void register(String name, Supplier<Snapshot> source) { DEVICES.put(name, source); }

    /** Removes a registration (e.g. a backend that was shut down). */
    public static void unregister(String name) { DEVICES.remove(name); }

    /** The host allocator followed by every registered device allocator (by name). */
    public static List<Snapshot> all() {
        List<Snapshot> out = new ArrayList<>();
        out.add(host());
        DEVICES.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> out.add(e.getValue().get()));
        return out;
    }

    /** One line per allocator, for logs and the CLI. */
    public static String summary() {
        StringBuilder sb = new StringBuilder();
        for (Snapshot s : all()) sb.append(s).append('\n');
        return sb.toString();
    }
}
