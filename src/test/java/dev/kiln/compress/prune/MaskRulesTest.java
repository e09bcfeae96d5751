package dev.kiln.compress.prune;

import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.nn.Activation;
import dev.kiln.tensor.Generator;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exact masks: pruned counts, tie breaking, N:M patterns, global vs per-layer, random. */
class MaskRulesTest {
    @Test void lowestPrunesExactCountWithIndexTieBreak() {
        double[] s = {3, 1, 1, 2, 1, 5};
        // 50% of 6 = 3: the three 1s (indices 1, 2, 4)
        assertArrayEquals(new boolean[]{true, false, false, true, false, true}, MaskRules.lowest(s, 0.5));
        // 1/3 of 6 = 2: ties at score 1 go to the lower indices first
        assertArrayEquals(new boolean[]{true, false, false, true, true, true}, MaskRules.lowest(s, 1.0 / 3));
        assertEquals(6, MaskRules.count(MaskRules.lowest(s, 0)));
        assertEquals(0, MaskRules.count(MaskRules.lowest(s, 1)));
        assertEquals(7, MaskRules.prunedCount(0.7, 10));
        assertEquals(3, MaskRules.prunedCount(0.25, 10)); // round half up
    }

    @Test void magnitudePerLayerIsExactInEveryLayer() {
        try (Sequential m = Models.mlp(new Generator(1)); MaskSet masks = Pruner.magnitude(m, 0.9, false)) {
            for (MaskSet.Entry e : masks.entries()) {
                assertEquals(Math.round(0.9 * e.size()), e.size() - e.kept(), e.name());
                float[] w = e.weight().toFloatArray();
                boolean[] keep = e.keep();
                for (int i = 0; i < w.length; i++) if (!keep[i]) assertEquals(0f, w[i]); // +0.0 exactly
            }
            assertEquals(List.of("1.weight", "3.weight", "5.weight"), masks.entries().stream().map(MaskSet.Entry::name).toList());
        }
    }

    @Test void magnitudeKeepsTheLargest() {
        try (Linear l = new Linear(8, 4, true, new Generator(3))) {
            float[] before = l.weight().toFloatArray();
            try (MaskSet masks = Pruner.magnitude(new Sequential(l), 0.75, false)) {
                boolean[] keep = masks.entries().getFirst().keep();
                double maxPruned = 0, minKept = Double.MAX_VALUE;
                for (int i = 0; i < keep.length; i++) {
                    if (keep[i]) minKept = Math.min(minKept, Math.abs(before[i]));
                    else maxPruned = Math.max(maxPruned, Math.abs(before[i]));
                }
                assertEquals(8, MaskRules.count(keep));
                assertTrue(maxPruned <= minKept, maxPruned + " > " + minKept);
            }
        }
    }

    @Test void globalUsesOneThresholdAndExactTotal() {
        try (Sequential m = Models.mlp(new Generator(2)); MaskSet masks = Pruner.magnitude(m, 0.8, true)) {
            assertEquals(Math.round(0.8 * masks.total()), masks.total() - masks.kept());
            // per-layer sparsities differ (the 784-input layer has smaller weights), one threshold separates them
            double s0 = masks.entries().get(0).sparsity(), s2 = masks.entries().get(2).sparsity();
            assertTrue(Math.abs(s0 - s2) > 0.05, s0 + " vs " + s2);
        }
        List<double[]> scores = List.of(new double[]{1, 4, 2}, new double[]{3, 0.5});
        boolean[][] k = MaskRules.lowestGlobal(scores, 0.4); // prune 2: 0.5 and 1
        assertArrayEquals(new boolean[]{false, true, true}, k[0]);
        assertArrayEquals(new boolean[]{true, false}, k[1]);
    }

    @Test void nOfMPatternHoldsInEveryGroup() {
        double[] s = {4, 3, 2, 1, /* row 2 */ 1, 1, 1, 1, /* tail-free */ 0, 9, 0, 9, 5, 5, 5, 5};
        boolean[] k = MaskRules.nOfM(s, 2, 8, 2, 4);
        assertArrayEquals(new boolean[]{true, true, false, false, false, false, true, true,
                false, true, false, true, false, false, true, true}, k);
        try (Sequential m = Models.mlp(new Generator(4)); MaskSet masks = Pruner.nOfM(m, 2, 4)) {
            for (MaskSet.Entry e : masks.entries()) {
                assertEquals(0.5, e.sparsity(), 1e-12);
                boolean[] keep = e.keep();
                int cols = e.target().cols();
                for (int r = 0; r < e.target().rows(); r++)
                    for (int g = 0; g < cols; g += 4) {
                        int n = 0;
                        for (int j = 0; j < 4; j++) if (keep[r * cols + g + j]) n++;
                        assertEquals(2, n);
                    }
            }
        }
    }

    @Test void generalNmAndPartialGroupsAlongConvInputs() {
        // 1:3 over rows of 7 (groups 3, 3, 1): each full group keeps 1, the tail keeps min(1, 1)
        double[] s = {1, 2, 3, 6, 5, 4, 7};
        assertArrayEquals(new boolean[]{false, false, true, true, false, false, true}, MaskRules.nOfM(s, 1, 7, 1, 3));
        try (Sequential m = Models.cnn(new Generator(5)); MaskSet masks = Pruner.nOfM(m, 2, 4)) {
            MaskSet.Entry conv2 = masks.get("3.weight"); // [32, 16, 3, 3]: cols = 144
            assertEquals(144, conv2.target().cols());
            assertEquals(0.5, conv2.sparsity(), 1e-12);
            MaskSet.Entry conv1 = masks.get("0.weight"); // cols = 9: groups 4, 4, 1 -> 2 + 2 + 1 kept
            assertEquals(5 * 16, conv1.kept());
        }
        assertThrows(IllegalArgumentException.class, () -> Pruner.parseNm("4:2"));
        assertArrayEquals(new int[]{2, 4}, Pruner.parseNm("2:4"));
    }

    @Test void randomIsExactAndSeeded() {
        boolean[] a = MaskRules.random(1000, 0.37, new Generator(9));
        boolean[] b = MaskRules.random(1000, 0.37, new Generator(9));
        assertEquals(630, MaskRules.count(a));
        assertArrayEquals(a, b);
        try (Sequential m = new Sequential(Activation.flatten(), new Linear(10, 10, true, new Generator(1)));
             MaskSet masks = Pruner.random(m, 0.5, 3)) {
            assertEquals(50, masks.kept());
        }
    }
}
