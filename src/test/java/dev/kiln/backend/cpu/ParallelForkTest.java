package dev.kiln.backend.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.*;

/**
 * forChunks runs every index exactly once, in the promised pieces, and rethrows a piece's error;
 * workers that parked (idle past their spin) are woken; callers on several threads at once, and
 * nested loops, never wait on each other.
 */
class ParallelForkTest {
    @Test
    void everyIndexRunsOnce() {
        for (int n : new int[]{1, 2, 3, 7, 100, 1001}) {
            for (int chunks : new int[]{1, 2, 3, 8}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                Parallel.forChunks(n, chunks, (s, e) -> {
                    for (int i = s; i < e; i++) hits.incrementAndGet(i);
                });
                for (int i = 0; i < n; i++) assertEquals(1, hits.get(i), "n=" + n + " chunks=" + chunks + " i=" + i);
            }
        }
    }

    @Test
    void burstsNestAndCloseOnce() {
        int open = Parallel.openBursts();
        Parallel.Burst outer = Parallel.burst();
        try (Parallel.Burst inner = Parallel.burst()) {
            assertEquals(open + 2, Parallel.openBursts());
            AtomicIntegerArray hits = new AtomicIntegerArray(64);
            Parallel.forChunks(64, 4, (s, e) -> {
                for (int i = s; i < e; i++) hits.incrementAndGet(i);
            });
            for (int i = 0; i < 64; i++) assertEquals(1, hits.get(i));
        }
        outer.close();
        outer.close();   // idempotent
        assertEquals(open, Parallel.openBursts());
    }

    @Test
    void aHelperPieceErrorReachesTheCaller() {
        for (int rep = 0; rep < 20; rep++) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.forChunks(4, 4, (s, end) -> {
                if (s == 3) throw new IllegalStateException("piece 3");
            }));
            assertEquals("piece 3", e.getMessage());
        }
    }

    @Test
    void parkedWorkersWakeUp() throws InterruptedException {
        for (int rep = 0; rep < 5; rep++) {
            Thread.sleep(2 + Parallel.SPIN_NANOS / 1_000_000);        // past the spin: the workers park
            AtomicIntegerArray hits = new AtomicIntegerArray(64);
            assertTimeoutPreemptively(java.time.Duration.ofSeconds(10), () -> Parallel.forChunks(64, 4, (s, e) -> {
                for (int i = s; i < e; i++) hits.incrementAndGet(i);
            }));
            for (int i = 0; i < 64; i++) assertEquals(1, hits.get(i));
        }
    }

    @Test
    void concurrentCallersAndNestedLoops() throws Exception {
        int callers = 4, n = 200;
        AtomicIntegerArray hits = new AtomicIntegerArray(callers * n * 3);
        var pool = java.util.concurrent.Executors.newFixedThreadPool(callers);
        try {
            var futures = new java.util.ArrayList<java.util.concurrent.Future<?>>();
            for (int c = 0; c < callers; c++) {
                int base = c * n * 3;
                futures.add(pool.submit(() -> {
                    for (int rep = 0; rep < 50; rep++)
                        Parallel.forChunks(n, 3, (s, e) -> {
                            for (int i = s; i < e; i++) {   // a nested loop inside a piece runs inline
                                int row = base + i * 3;
                                Parallel.forChunks(3, 3, (a, b) -> {
                                    for (int j = a; j < b; j++) hits.incrementAndGet(row + j);
                                });
                            }
                        });
                }));
            }
            for (var f : futures) f.get(30, java.util.concurrent.TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        for (int i = 0; i < hits.length(); i++) assertEquals(50, hits.get(i), "index " + i);
    }
}
