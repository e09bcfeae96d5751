package dev.kiln.generate;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    private static final float[] LOGITS = {0.5f, 2.0f, -1f, 1.5f, 2.0f, 0f};

    @Test
    void greedyTakesTheLargestLogitLowestIdOnTies() {
        assertEquals(1, Sampler.greedy().next(LOGITS, List.of()));
        // the penalty divides positive logits of seen tokens: 1 -> 2.0/2 = 1.0, so 4 wins
        assertEquals(4, Sampler.greedy(2f).next(LOGITS, List.of(1)));
    }

    @Test
    void sameSeedSameSequenceAndTopKOneIsGreedy() {
        Sampler a = Sampler.sampling(1f, 0, 1f, 1f, 42), b = Sampler.sampling(1f, 0, 1f, 1f, 42), c = Sampler.sampling(1f, 0, 1f, 1f, 43);
        StringBuilder sa = new StringBuilder(), sb = new StringBuilder(), sc = new StringBuilder();
        for (int i = 0; i < 64; i++) {
            sa.append(a.next(LOGITS, List.of()));
            sb.append(b.next(LOGITS, List.of()));
            sc.append(c.next(LOGITS, List.of()));
        }
        assertEquals(sa.toString(), sb.toString());
        assertNotEquals(sa.toString(), sc.toString());
        Sampler k1 = Sampler.sampling(1f, 1, 1f, 1f, 7), p = Sampler.sampling(1f, 0, 1e-6f, 1f, 7);
        for (int i = 0; i < 20; i++) {
            assertEquals(1, k1.next(LOGITS, List.of()));
            assertEquals(1, p.next(LOGITS, List.of()));
        }
    }

    /** Frequencies over 200k draws match the softmax at temperature 0.7 within 1% absolute; top-k 2 draws only the two largest (1 and 4). */
    @Test
    void samplesFollowTheSoftmax() {
        float t = 0.7f;
        double[] p = new double[LOGITS.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) sum += p[i] = Math.exp(LOGITS[i] / t);
        Sampler s = Sampler.sampling(t, 0, 1f, 1f, 3);
        int n = 200_000;
        int[] count = new int[p.length];
        for (int i = 0; i < n; i++) count[s.next(LOGITS, List.of())]++;
        for (int i = 0; i < p.length; i++) assertEquals(p[i] / sum, count[i] / (double) n, 0.01, "token " + i);
        Sampler k2 = Sampler.sampling(1f, 2, 1f, 1f, 5);
        int[] seen = new int[LOGITS.length];
        for (int i = 0; i < 10_000; i++) seen[k2.next(LOGITS, List.of())]++;
        assertEquals(10_000, seen[1] + seen[4]);
        assertTrue(seen[1] > 4000 && seen[4] > 4000, seen[1] + " " + seen[4]);
    }

    @Test
    void badSettingsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampling(0f, 0, 1f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampling(1f, -1, 1f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sampling(1f, 0, 0f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> Sampler.greedy(0.5f));
    }

    /** A streamed character split across tokens is held back until its last byte. */
    @Test
    void utf8PrefixHoldsBackIncompleteCharacters() {
        byte[] euro = "a\u20ac".getBytes(StandardCharsets.UTF_8);          // 'a' + 3 bytes
        assertEquals(1, BpeTokenizer.completePrefix(java.util.Arrays.copyOf(euro, 2)));
        assertEquals(1, BpeTokenizer.completePrefix(java.util.Arrays.copyOf(euro, 3)));
        assertEquals(4, BpeTokenizer.completePrefix(euro));
        byte[] emoji = "\uD83D\uDE00".getBytes(StandardCharsets.UTF_8);    // 4 bytes
        for (int k = 1; k < 4; k++) assertEquals(0, BpeTokenizer.completePrefix(java.util.Arrays.copyOf(emoji, k)));
        assertEquals(4, BpeTokenizer.completePrefix(emoji));
        assertEquals(2, BpeTokenizer.completePrefix(new byte[] {'x', (byte) 0x80}));   // a stray continuation byte is let through
    }
}
