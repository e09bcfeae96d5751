package dev.kiln.backend.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.*;

/** forChunks runs every index exactly once, in the promised pieces, and rethrows a piece's error. */
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
    void aHelperPieceErrorReachesTheCaller() {
        for (int rep = 0; rep < 20; rep++) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.forChunks(4, 4, (s, end) -> {
                if (s == 3) throw new IllegalStateException("piece 3");
            }));
            assertEquals("piece 3", e.getMessage());
        }
    }
}
