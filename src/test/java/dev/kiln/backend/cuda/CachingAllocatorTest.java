package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** CachingAllocator against a fake device: rounding, reuse, splitting, stats, emptyCache, OOM, threads. */
class CachingAllocatorTest {
    private static final long MIB = 1L << 20;

    @Test
    void roundsSizes() {
        assertEquals(512, CachingAllocator.roundSize(0));
        assertEquals(512, CachingAllocator.roundSize(1));
        assertEquals(512, CachingAllocator.roundSize(512));
        assertEquals(1024, CachingAllocator.roundSize(513));
        assertEquals(2 * MIB, CachingAllocator.segmentSize(512));
        assertEquals(2 * MIB, CachingAllocator.segmentSize(MIB));
        assertEquals(2 * MIB, CachingAllocator.segmentSize(MIB + 512));
        assertEquals(4 * MIB, CachingAllocator.segmentSize(2 * MIB + 512));
    }

    @Test
    void smallBlocksShareOneSegmentAndStatsAddUp() {
        FakeDeviceMemory dev = new FakeDeviceMemory(64 * MIB);
        CachingAllocator a = new CachingAllocator(dev);
        long p1 = a.allocate(100);
        long p2 = a.allocate(1000);
        long p3 = a.allocate(513);
        assertEquals(1, dev.mallocCalls, "three small requests fit in one 2 MiB segment");
        assertEquals(512 + 1024 + 1024, a.bytesInUse());
        assertEquals(2 * MIB, a.bytesReserved());
        assertEquals(512, a.blockSize(p1));
        assertEquals(p1 + 512, p2, "split blocks are laid out back to back");
        assertEquals(p2 + 1024, p3);
        a.free(p2);
        assertEquals(512 + 1024, a.bytesInUse());
        assertEquals(512 + 1024 + 1024, a.peakBytesInUse());
        long p4 = a.allocate(700);
        assertEquals(p2, p4, "best fit reuses the freed 1 KiB hole, not the big remainder");
        assertEquals(1, dev.mallocCalls);
    }

    @Test
    void freedBlocksMergeBackIntoWholeSegment() {
        FakeDeviceMemory dev = new FakeDeviceMemory(64 * MIB);
        CachingAllocator a = new CachingAllocator(dev);
        long[] ps = new long[16];
        for (int i = 0; i < ps.length; i++) ps[i] = a.allocate(4096);
        // free in an interleaved order so both left and right merges happen
        for (int i = 0; i < ps.length; i += 2) a.free(ps[i]);
        for (int i = 1; i < ps.length; i += 2) a.free(ps[i]);
        assertEquals(0, a.bytesInUse());
        long big = a.allocate(MIB); // needs the merged space; must not go to the device
        assertEquals(ps[0], big);
        assertEquals(1, dev.mallocCalls);
        a.free(big);
        assertEquals(2 * MIB, a.emptyCache());
        assertEquals(0, dev.used());
        assertEquals(0, a.bytesReserved());
    }

    @Test
    void largeBlocksRoundToTwoMiBAndSplitOnlyUsefulRemainders() {
        FakeDeviceMemory dev = new FakeDeviceMemory(256 * MIB);
        CachingAllocator a = new CachingAllocator(dev);
        long p = a.allocate(3 * MIB);
        assertEquals(4 * MIB, a.bytesReserved());
        assertEquals(4 * MIB, a.blockSize(p), "a 1 MiB remainder is not worth splitting off a large block");
        a.free(p);
        long q = a.allocate(10 * MIB + 1);
        assertEquals(2, dev.mallocCalls, "the cached 4 MiB block is too small");
        assertEquals(12 * MIB, a.bytesReserved() - 4 * MIB);
        a.free(q);
        long r = a.allocate(5 * MIB);
        assertEquals(q, r, "best fit takes the 12 MiB block (the 4 MiB one is too small)");
        assertEquals(5 * MIB, a.blockSize(r), "7 MiB remainder is split off");
        long s = a.allocate(6 * MIB);
        assertEquals(r + 5 * MIB, s, "served from the split remainder");
        assertEquals(2, dev.mallocCalls);
        long t = a.allocate(2 * MIB);
        assertEquals(p, t, "the 4 MiB block fits 2 MiB best");
        assertEquals(2, dev.mallocCalls);
    }

    @Test
    void smallAndLargePoolsAreSeparate() {
        FakeDeviceMemory dev = new FakeDeviceMemory(64 * MIB);
        CachingAllocator a = new CachingAllocator(dev);
        long big = a.allocate(8 * MIB);
        a.free(big);
        long small = a.allocate(64);
        assertTrue(small < big || small >= big + 8 * MIB, "a small request must not carve up a cached large block");
        assertEquals(2, dev.mallocCalls);
    }

    @Test
    void emptyCacheKeepsSegmentsInUse() {
        FakeDeviceMemory dev = new FakeDeviceMemory(64 * MIB);
        CachingAllocator a = new CachingAllocator(dev);
        long keep = a.allocate(100);
        long big = a.allocate(6 * MIB);
        long other = a.allocate(20 * MIB);
        a.free(big);
        a.free(other);
        assertEquals(2 * MIB + 6 * MIB + 20 * MIB, a.bytesReserved());
        assertEquals(26 * MIB, a.emptyCache());
        assertEquals(2 * MIB, a.bytesReserved());
        assertEquals(1, dev.liveCount());
        assertEquals(28 * MIB, a.peakBytesReserved());
        a.resetPeaks();
        assertEquals(2 * MIB, a.peakBytesReserved());
        a.free(keep);
        assertEquals(2 * MIB, a.emptyCache());
        assertEquals(0, dev.liveCount());
        assertEquals(dev.freeCalls, a.deviceFrees());
    }

    @Test
    void outOfMemoryEmptiesCacheAndRetriesOnce() {
        FakeDeviceMemory dev = new FakeDeviceMemory(32 * MIB);
        CachingAllocator a = new CachingAllocator(dev);
        long p = a.allocate(20 * MIB);
        a.free(p); // cached, 20 MiB of 32 held
        long q = a.allocate(24 * MIB); // does not fit the cache nor the device until the cache is emptied
        assertEquals(1, dev.failedMallocs);
        assertEquals(24 * MIB, a.bytesReserved());
        assertTrue(dev.contains(q, 24 * MIB));
    }

    @Test
    void outOfMemoryAfterRetryNamesRequestedAndFreeBytes() {
        FakeDeviceMemory dev = new FakeDeviceMemory(32 * MIB);
        CachingAllocator a = new CachingAllocator(dev);
        long held = a.allocate(20 * MIB);
        long cached = a.allocate(4 * MIB);
        a.free(cached);
        DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class, () -> a.allocate(16 * MIB));
        assertEquals(2, dev.failedMallocs, "tried, emptied the cache, retried once");
        assertEquals(16 * MIB, e.requestedBytes());
        assertEquals(12 * MIB, e.freeBytes(), "the 4 MiB cached block was released before the retry");
        assertTrue(e.getMessage().contains("16.00 MiB") && e.getMessage().contains("16777216 bytes requested"), e.getMessage());
        assertTrue(e.getMessage().contains("device free 12.00 MiB of 32.00 MiB"), e.getMessage());
        assertTrue(e.getMessage().startsWith("fake:0: out of memory"), e.getMessage());
        assertEquals(20 * MIB, a.bytesInUse(), "a failed allocation leaves the stats unchanged");
        a.free(held);
    }

    @Test
    void badFreesAreRejected() {
        CachingAllocator a = new CachingAllocator(new FakeDeviceMemory(8 * MIB));
        long p = a.allocate(1000);
        a.free(p);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.free(p));
        assertTrue(e.getMessage().contains("already freed"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> a.free(p + 512));
        assertThrows(IllegalArgumentException.class, () -> a.allocate(-1));
    }

    @Test
    void tenThousandAllocateFreeStepsKeepReservedFlat() {
        FakeDeviceMemory dev = new FakeDeviceMemory(512 * MIB);
        CachingAllocator a = new CachingAllocator(dev);
        Random rnd = new Random(42);
        long[] sizes = new long[24];
        for (int i = 0; i < sizes.length; i++) sizes[i] = 1 + rnd.nextInt(i % 3 == 0 ? 8 << 20 : 64 << 10);
        long reservedAfterFirst = -1;
        for (int step = 0; step < 10_000; step++) {
            long[] ps = new long[sizes.length];
            for (int i = 0; i < sizes.length; i++) ps[i] = a.allocate(sizes[i]);
            for (int i = sizes.length - 1; i >= 0; i -= 2) a.free(ps[i]); // free in a mixed order
            for (int i = sizes.length - 2; i >= 0; i -= 2) a.free(ps[i]);
            if (step == 0) reservedAfterFirst = a.bytesReserved();
            else assertEquals(reservedAfterFirst, a.bytesReserved(), "reserved grew at step " + step);
        }
        assertEquals(0, a.bytesInUse());
        assertEquals(reservedAfterFirst, dev.used());
    }

    @Test
    void concurrentUseNeverHandsOutOverlappingBlocks() throws Exception {
        FakeDeviceMemory dev = new FakeDeviceMemory(1L << 32);
        CachingAllocator a = new CachingAllocator(dev);
        int threads = 4;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> fs = new ArrayList<>();
            ConcurrentSkipListMap<Long, Long> live = new ConcurrentSkipListMap<>();
            for (int t = 0; t < threads; t++) {
                int seed = t;
                fs.add(pool.submit(() -> churn(a, live, new Random(seed), 2000)));
            }
            for (Future<?> f : fs) f.get();
        } finally {
            pool.shutdown();
        }
        assertEquals(0, a.bytesInUse());
        a.emptyCache();
        assertEquals(0, a.bytesReserved());
        assertEquals(0, dev.liveCount());
    }

    /**
     * Random allocate/free from one thread. Every block held by any thread is in {@code live}; a new
     * block must sit in device memory and overlap none of them (a block leaves {@code live} before it
     * is freed, so the check has no false alarms).
     */
    private static void churn(CachingAllocator a, ConcurrentSkipListMap<Long, Long> live, Random rnd, int steps) {
        FakeDeviceMemory dev = (FakeDeviceMemory) a.device();
        TreeMap<Long, Long> mine = new TreeMap<>();
        for (int s = 0; s < steps; s++) {
            if (mine.size() < 8 && (mine.isEmpty() || rnd.nextBoolean())) {
                long size = rnd.nextInt(4) == 0 ? MIB + rnd.nextInt(4 << 20) : 1 + rnd.nextInt(100_000);
                long p = a.allocate(size);
                assertNotEquals(0, p);
                assertTrue(a.blockSize(p) >= size);
                assertTrue(dev.contains(p, size), "block outside device memory");
                Map.Entry<Long, Long> below = live.floorEntry(p);
                Long above = live.ceilingKey(p);
                assertTrue(below == null || below.getKey() + below.getValue() <= p, "overlap below");
                assertTrue(above == null || p + size <= above, "overlap above");
                live.put(p, size);
                mine.put(p, size);
            } else {
                long p = mine.firstKey();
                if (rnd.nextBoolean()) p = mine.lastKey();
                mine.remove(p);
                live.remove(p);
                a.free(p);
            }
        }
        for (long p : mine.keySet()) {
            live.remove(p);
            a.free(p);
        }
    }
}
