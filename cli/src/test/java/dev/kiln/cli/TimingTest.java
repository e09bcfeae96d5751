package dev.kiln.cli;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TimingTest {
    @Test
    void medianOfOddAndEvenCounts() {
        assertEquals(3.0, Timing.median(new double[]{5, 1, 3}));
        assertEquals(2.5, Timing.median(new double[]{4, 1, 3, 2}));
        assertThrows(IllegalArgumentException.class, () -> Timing.median(new double[0]));
    }

    @Test
    void warmupThenTimedRuns() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        double s = Timing.medianSeconds(calls::incrementAndGet, 2, 3, 1e9);
        assertEquals(5, calls.get());
        assertTrue(s >= 0 && s < 1, "seconds " + s);
    }

    @Test
    void budgetStopsAfterOneRun() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        Timing.medianSeconds(() -> { calls.incrementAndGet(); Thread.sleep(5); }, 0, 100, 0.0);
        assertEquals(1, calls.get());
    }

    @Test
    void interleavedMediansAlternateTheTwoActions() throws Exception {
        StringBuilder order = new StringBuilder();
        double[] s = Timing.interleavedMedians(() -> order.append('a'), () -> { order.append('b'); Thread.sleep(2); }, 1, 3);
        assertEquals("abababab", order.toString());
        assertTrue(s[1] >= 2e-3 && s[0] < s[1], "medians " + s[0] + ", " + s[1]);
        assertThrows(IllegalArgumentException.class, () -> Timing.interleavedMedians(() -> {}, () -> {}, 0, 0));
    }
}
