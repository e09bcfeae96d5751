package dev.kiln.tensor;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Generator draws exactly java.util.SplittableRandom's stream (so seeded runs did not change), and its snapshots replay it. */
class GeneratorStreamTest {
    @Test
    void sameStreamAsSplittableRandom() {
        long[] seeds = {0, 1, 42, -7, 0x6b696c6eL, Long.MIN_VALUE, 20240917};
        int[] intBounds = {1, 2, 3, 7, 10, 16, 1000, 1 << 20, (1 << 30) + 1, Integer.MAX_VALUE};
        long[] longBounds = {1, 2, 5, 64, 1_000_003, 1L << 40, (1L << 62) + 3, Long.MAX_VALUE};
        for (long seed : seeds) {
            Generator g = new Generator(seed);
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < 20_000; i++) {
                switch (i % 3) {
                    case 0 -> assertEquals(r.nextDouble(), g.nextUniform(), "seed " + seed + " draw " + i);
                    case 1 -> {
                        int b = intBounds[i % intBounds.length];
                        assertEquals(r.nextInt(b), g.nextInt(b), "seed " + seed + " draw " + i + " nextInt(" + b + ")");
                    }
                    default -> {
                        long b = longBounds[i % longBounds.length];
                        assertEquals(r.nextLong(b), g.nextLong(b), "seed " + seed + " draw " + i + " nextLong(" + b + ")");
                    }
                }
            }
        }
    }

    @Test
    void snapshotReplaysTheStream() {
        Generator g = new Generator(3);
        g.nextNormal();                       // leaves a cached spare normal
        Generator s = g.snapshot();
        double[] a = {g.nextNormal(), g.nextNormal(), g.nextUniform(), g.nextInt(77)};
        Generator after = g.snapshot();
        g.restore(s);
        double[] b = {g.nextNormal(), g.nextNormal(), g.nextUniform(), g.nextInt(77)};
        assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
        assertEquals(after.nextUniform(), g.nextUniform());
    }

    @Test
    void stateRoundTripsAsText() {
        Generator g = new Generator(11);
        g.nextNormal();
        String st = g.state();
        double want = g.nextNormal();
        Generator h = new Generator(0);
        h.setState(st);
        assertEquals(want, h.nextNormal());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> h.setState("zz"));
    }
}
