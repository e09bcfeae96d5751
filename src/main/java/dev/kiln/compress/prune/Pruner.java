package dev.kiln.compress.prune;

import dev.kiln.nn.Module;
import dev.kiln.tensor.Generator;

import java.util.ArrayList;
import java.util.List;

/**
 * Unstructured and semi-structured pruning of a model's Linear and Conv2d weights. Each method
 * computes exact masks ({@link MaskRules}), zeroes the pruned weights and returns the masks, which
 * a {@link MaskedOptimizer} then keeps in force through fine-tuning.
 */
public final class Pruner {
    private Pruner() {}

    /** Magnitude pruning: per layer (each weight exactly at sparsity s) or global (one threshold, total exactly s). */
    public static MaskSet magnitude(Module model, double sparsity, boolean global) {
        return magnitude(PruneTarget.of(model), sparsity, global, null);
    }

    /**
     * Magnitude masks for the targets. With previous masks, weights pruned before score below every
     * kept weight, so a rising sparsity (gradual pruning) never revives a pruned weight.
     */
    static MaskSet magnitude(List<PruneTarget> targets, double sparsity, boolean global, MaskSet previous) {
        return applied(new MaskSet(targets, magnitudeKeeps(targets, sparsity, global, previous)));
    }

    static List<boolean[]> magnitudeKeeps(List<PruneTarget> targets, double sparsity, boolean global, MaskSet previous) {
        List<double[]> scores = new ArrayList<>();
        for (PruneTarget t : targets) {
            double[] s = t.magnitudes();
            MaskSet.Entry prev = previous == null ? null : previous.find(t.weight());
            if (prev != null) for (int i = 0; i < s.length; i++) if (!prev.keeps(i)) s[i] = -1;
            scores.add(s);
        }
        List<boolean[]> keeps = new ArrayList<>();
        if (global) {
            for (boolean[] k : MaskRules.lowestGlobal(scores, sparsity)) keeps.add(k);
        } else {
            for (double[] s : scores) keeps.add(MaskRules.lowest(s, sparsity));
        }
        return keeps;
    }

    /** N:M pruning by magnitude along each weight's input dimension (2:4: two nonzeros in every four). */
    public static MaskSet nOfM(Module model, int n, int m) {
        List<PruneTarget> targets = PruneTarget.of(model);
        List<boolean[]> keeps = new ArrayList<>();
        for (PruneTarget t : targets) keeps.add(MaskRules.nOfM(t.magnitudes(), t.rows(), t.cols(), n, m));
        return applied(new MaskSet(targets, keeps));
    }

    /** Random pruning (the baseline): exactly round(s * size) weights of each layer, chosen with the seed. */
    public static MaskSet random(Module model, double sparsity, long seed) {
        Generator g = new Generator(seed);
        List<PruneTarget> targets = PruneTarget.of(model);
        List<boolean[]> keeps = new ArrayList<>();
        for (PruneTarget t : targets) keeps.add(MaskRules.random((int) t.weight().numel(), sparsity, g));
        return applied(new MaskSet(targets, keeps));
    }

    /** Parses "N:M" (e.g. "2:4") into {N, M}. */
    public static int[] parseNm(String spec) {
        String[] p = spec.trim().split(":");
        try {
            if (p.length == 2) {
                int n = Integer.parseInt(p[0].trim()), m = Integer.parseInt(p[1].trim());
                if (n >= 0 && m >= 1 && n <= m) return new int[]{n, m};
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new IllegalArgumentException("bad N:M pattern '" + spec + "' (expected e.g. 2:4, with 0 <= N <= M)");
    }

    private static MaskSet applied(MaskSet masks) {
        masks.apply();
        return masks;
    }
}
