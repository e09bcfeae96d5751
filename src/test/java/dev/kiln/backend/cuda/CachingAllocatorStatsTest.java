package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.kiln.tensor.MemoryStats;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * The device allocator's counters as {@link MemoryStats} reports them (on a fake device, no GPU):
 * in use / peak / cached / allocation counts after a known sequence, and consistent counts after 8
 * threads allocate and free at once (the allocator is shared by every thread using the backend).
 */
class CachingAllocatorStatsTest {
    @Test
    void snapshotCountsBlocksAndCache() {
        CachingAllocator a = new CachingAllocator(new FakeDeviceMemory(1L << 30));
        long p = a.allocate(1000), q = a.allocate(4L << 20);
        MemoryStats.Snapshot s = a.snapshot();
        assertEquals(1024 + (4L << 20), s.bytesInUse());
        assertEquals(2, s.allocations());
        assertEquals(2, s.systemAllocations(), "one small segment and one large one");
        assertEquals((2L << 20) - 1024, s.cachedBytes(), "the rest of the small segment is cached");
        a.free(p);
        a.free(q);
        s = a.snapshot();
        assertEquals(0, s.bytesInUse());
        assertEquals(1024 + (4L << 20), s.peakBytesInUse());
        assertEquals(2, s.frees());
        assertEquals(0, s.liveBlocks());
        assertEquals(s.bytesReserved(), s.cachedBytes());
        MemoryStats.register("fake:0", a::snapshot);
        try {
            List<MemoryStats.Snapshot> all = MemoryStats.all();
            assertEquals("host", all.get(0).allocator());
            assertEquals(1, all.stream().filter(x -> x.allocator().equals("fake:0") && x.frees() == 2).count(), "the registered device is listed");
        } finally {
            MemoryStats.unregister("fake:0");
        }
        assertEquals(0, MemoryStats.all().stream().filter(x -> x.allocator().equals("fake:0")).count());
    }

    @Test
    void countersStayConsistentUnderConcurrentUse() throws Exception {
        CachingAllocator a = new CachingAllocator(new FakeDeviceMemory(1L << 32));
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int t = 0; t < 8; t++) {
            Thread th = new Thread(() -> {
                try {
                    ThreadLocalRandom r = ThreadLocalRandom.current();
                    List<Long> held = new ArrayList<>();
                    for (int i = 0; i < 20_000; i++) {
                        if (held.isEmpty() || r.nextBoolean()) held.add(a.allocate(r.nextLong(1, 3L << 20)));
                        else a.free(held.remove(r.nextInt(held.size())));
                    }
                    for (long p : held) a.free(p);
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) th.join();
        assertEquals(List.of(), errors);
        MemoryStats.Snapshot s = a.snapshot();
        assertEquals(0, s.bytesInUse());
        assertEquals(0, s.liveBlocks());
        assertEquals(s.allocations(), s.frees());
        a.emptyCache();
        assertEquals(0, a.snapshot().cachedBytes());
        assertEquals(a.snapshot().systemAllocations(), a.snapshot().systemFrees());
        assertFalse(s.allocations() == 0);
    }
}
