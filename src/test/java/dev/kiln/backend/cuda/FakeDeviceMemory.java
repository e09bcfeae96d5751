package dev.kiln.backend.cuda;

import java.util.HashMap;
import java.util.Map;

/**
 * A {@link DeviceMemory} without a device for allocator tests: hands out 256-byte aligned fake
 * addresses up to a capacity, records every live allocation and fails loudly on a bad free.
 */
final class FakeDeviceMemory implements DeviceMemory {
    private final long capacity;
    private final Map<Long, Long> live = new HashMap<>();
    private long next = 0x7f00_0000_0000L;
    private long used;
    int mallocCalls;
    int failedMallocs;
    int freeCalls;

    FakeDeviceMemory(long capacity) {
        this.capacity = capacity;
    }

    @Override
    public String name() {
        return "fake:0";
    }

    @Override
    public synchronized long malloc(long bytes) {
        mallocCalls++;
        if (used + bytes > capacity) {
            failedMallocs++;
            return 0;
        }
        long ptr = next;
        next += (bytes + 255) / 256 * 256 + 4096; // a gap so that segments never touch
        live.put(ptr, bytes);
        used += bytes;
        return ptr;
    }

    @Override
    public synchronized void free(long ptr) {
        freeCalls++;
        Long size = live.remove(ptr);
        if (size == null) throw new AssertionError("fake device: bad free of 0x" + Long.toHexString(ptr));
        used -= size;
    }

    @Override
    public synchronized long freeBytes() {
        return capacity - used;
    }

    @Override
    public long totalBytes() {
        return capacity;
    }

    synchronized long used() {
        return used;
    }

    synchronized int liveCount() {
        return live.size();
    }

    /** Whether [ptr, ptr+bytes) lies inside one live device allocation. */
    synchronized boolean contains(long ptr, long bytes) {
        for (Map.Entry<Long, Long> e : live.entrySet()) {
            if (ptr >= e.getKey() && ptr + bytes <= e.getKey() + e.getValue()) return true;
        }
        return false;
    }
}
