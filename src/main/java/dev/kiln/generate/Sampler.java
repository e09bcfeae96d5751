package dev.kiln.generate;

import java.util.Arrays;
import java.util.Collection;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: greedy (the largest logit, the lowest id on ties), or
 * sampled with a temperature, keeping the top-k logits and/or the smallest set whose probability
 * reaches top-p (nucleus), after a repetition penalty on tokens already in the sequence (CTRL's:
 * positive logits divided by it, negative multiplied). A seed fixes the sampled sequence.
 * Not thread-safe (one sampler per sequence).
 */
public final class Sampler {
    private final boolean greedy;
    private final float temperature, topP, repetitionPenalty;
    private final int topK;
    private final SplittableRandom random;

    private Sampler(boolean greedy, float temperature, int topK, float topP, float repetitionPenalty, long seed) {
        if (!greedy && !(temperature > 0 && Float.isFinite(temperature))) throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0: off), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(repetitionPenalty >= 1 && Float.isFinite(repetitionPenalty))) throw new IllegalArgumentException("repetition penalty must be >= 1, got " + repetitionPenalty);
        this.greedy = greedy;
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.repetitionPenalty = repetitionPenalty;
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() { return new Sampler(true, 1, 0, 1, 1, 0); }

    public static Sampler greedy(float repetitionPenalty) { return new Sampler(true, 1, 0, 1, repetitionPenalty, 0); }

    /** Sampling; topK 0 and topP 1 turn those filters off. */
    public static Sampler sampling(float temperature, int topK, float topP, float repetitionPenalty, long seed) {
        return new Sampler(false, temperature, topK, topP, repetitionPenalty, seed);
    }

    /** The next token given the logits of the last position and the ids so far (prompt included). */
    public int next(float[] logits, Collection<Integer> seen) {
        float[] l = logits;
        if (repetitionPenalty != 1 && !seen.isEmpty()) {
            l = logits.clone();
            boolean[] done = new boolean[l.length];
            for (int id : seen) {
                if (id < 0 || id >= l.length || done[id]) continue;
                done[id] = true;
                l[id] = l[id] > 0 ? l[id] / repetitionPenalty : l[id] * repetitionPenalty;
            }
        }
        if (greedy) return argmax(l);
        int n = l.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        final float[] lf = l;
        Arrays.sort(order, (a, b) -> lf[a] != lf[b] ? Float.compare(lf[b], lf[a]) : Integer.compare(a, b));
        int keep = topK > 0 ? Math.min(topK, n) : n;
        double max = l[order[0]];
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp((l[order[i]] - max) / temperature);
            sum += p[i];
        }
        if (topP < 1) {
            double acc = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                acc += p[i] / sum;
                if (acc >= topP) {
                    cut = i + 1;
                    break;
                }
            }
            keep = cut;
            sum = 0;
            for (int i = 0; i < keep; i++) sum += p[i];
        }
        double r = random.nextDouble() * sum;
        for (int i = 0; i < keep; i++) {
            r -= p[i];
            if (r < 0) return order[i];
        }
        return order[keep - 1];
    }

    static int argmax(float[] l) {
        int best = 0;
        for (int i = 1; i < l.length; i++) if (l[i] > l[best]) best = i;
        return best;
    }
}
