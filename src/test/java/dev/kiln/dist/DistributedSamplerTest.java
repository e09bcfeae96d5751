package dev.kiln.dist;

import dev.kiln.data.Batch;
import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shards are disjoint, cover the data, pad or drop as documented and match one process's batches. */
class DistributedSamplerTest {

    @ParameterizedTest
    @CsvSource({"100,4,PAD", "103,4,PAD", "103,4,DROP", "5,3,PAD", "2,3,PAD", "7,1,DROP"})
    void shardsAreDisjointAndCoverTheEpoch(int n, int size, DistributedSampler.Tail tail) {
        List<Integer> all = new ArrayList<>();
        int len = -1;
        for (int r = 0; r < size; r++) {
            DistributedSampler s = new DistributedSampler(n, r, size, true, 7, tail);
            int[] idx = s.indices(3);
            assertEquals(s.length(), idx.length);
            if (len >= 0) assertEquals(len, idx.length, "equal length on every rank");
            len = idx.length;
            for (int i : idx) all.add(i);
        }
        int expectLen = tail == DistributedSampler.Tail.PAD ? (n + size - 1) / size : n / size;
        assertEquals(expectLen, len);
        Set<Integer> distinct = new HashSet<>(all);
        if (tail == DistributedSampler.Tail.PAD) {
            assertEquals(n, distinct.size(), "every example is used");
            assertEquals(expectLen * size - n, all.size() - distinct.size(), "only the padding repeats");
        } else {
            assertEquals(all.size(), distinct.size(), "no example twice");
            assertEquals(n - n % size, all.size());
        }
        for (int i : all) assertTrue(i >= 0 && i < n);
    }

    @Test
    void epochsDifferAndAreReproducible() {
        DistributedSampler s = new DistributedSampler(50, 1, 2, true, 3, DistributedSampler.Tail.PAD);
        assertArrayEquals(s.indices(0), new DistributedSampler(50, 1, 2, true, 3, DistributedSampler.Tail.PAD).indices(0));
        assertNotEquals(Arrays.toString(s.indices(0)), Arrays.toString(s.indices(1)));
        DistributedSampler ordered = new DistributedSampler(6, 1, 2, false, 0, DistributedSampler.Tail.PAD);
        assertArrayEquals(new int[]{1, 3, 5}, ordered.indices(4));
    }

    /** Batch i of ranks 0 and 1 (batch 4 each) hold the same examples as batch i of one loader with batch 8. */
    @Test
    void ranksTogetherEqualOneProcessBatchesThroughDataLoader() {
        int n = 40;
        float[] xs = new float[n];
        for (int i = 0; i < n; i++) xs[i] = i;
        try (Tensor x = Tensor.fromArray(xs, n, 1); Tensor y = Tensor.zeros(n);
             TensorDataset ds = new TensorDataset(x, y);
             DataLoader one = DataLoader.builder(ds).batchSize(8).shuffle(11).prefetch(false).build();
             DataLoader r0 = DataLoader.builder(ds).batchSize(4).sampler(new DistributedSampler(n, 0, 2, true, 11, DistributedSampler.Tail.PAD)).build();
             DataLoader r1 = DataLoader.builder(ds).batchSize(4).sampler(new DistributedSampler(n, 1, 2, true, 11, DistributedSampler.Tail.PAD)).prefetch(false).build()) {
            for (int epoch = 0; epoch < 2; epoch++) {
                List<Set<Float>> single = batches(one), a = batches(r0), b = batches(r1);
                assertEquals(5, r0.numBatches());
                assertEquals(single.size(), a.size());
                for (int i = 0; i < single.size(); i++) {
                    Set<Float> union = new HashSet<>(a.get(i));
                    union.addAll(b.get(i));
                    assertEquals(single.get(i), union, "epoch " + epoch + " batch " + i);
                }
            }
        }
    }

    private static List<Set<Float>> batches(DataLoader loader) {
        List<Set<Float>> out = new ArrayList<>();
        for (Batch b : loader) {
            try (b) {
                Set<Float> s = new HashSet<>();
                for (float v : b.x().toFloatArray()) s.add(v);
                out.add(s);
            }
        }
        return out;
    }

    /** Blocked layout: same global batches as strided, rank r holds block r of each; equal shares in a partial last batch. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"64,2,8", "70,2,8", "75,4,4", "9,2,4", "100,3,7"})
    void blockedLayoutGivesEachRankAContiguousBlockOfEveryGlobalBatch(int n, int size, int b) {
        int[] perm = DataLoader.permutation(n, 13);
        java.util.Map<Integer, Integer> seen = new java.util.HashMap<>();
        int len = -1;
        for (int r = 0; r < size; r++) {
            DistributedSampler s = new DistributedSampler(n, r, size, true, 13, DistributedSampler.Tail.PAD).blocked(b);
            int[] idx = s.indices(0);
            len = idx.length;
            assertEquals((n + size - 1) / size, idx.length);
            int[] strided = new DistributedSampler(n, r, size, true, 13, DistributedSampler.Tail.PAD).indices(0);
            assertEquals(strided.length, idx.length);
            for (int k = 0; k < idx.length; k++) {
                int i = k / b, full = Math.min(b * size, len * size - i * b * size), share = full / size;
                int expectPos = i * b * size + r * share + k % b;
                assertEquals(perm[expectPos % n], idx[k], "rank " + r + " k " + k);
                seen.merge(expectPos, 1, Integer::sum);
            }
        }
        assertEquals(len * size, seen.size(), "every padded position exactly once");
        seen.values().forEach(c -> assertEquals(1, c));
    }
}
