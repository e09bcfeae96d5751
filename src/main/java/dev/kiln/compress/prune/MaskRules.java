package dev.kiln.compress.prune;

import dev.kiln.tensor.Generator;

import java.util.Arrays;
import java.util.List;

/**
 * The pruning rules as plain array arithmetic: which elements to keep, given their scores.
 * <p>
 * Counts are exact: pruning a fraction s of n elements removes exactly {@code round(s * n)} of
 * them ({@link #prunedCount}). Ties are broken deterministically: elements are ranked by
 * (score, flat index) ascending and the lowest ranks are pruned, so among equal scores the lower
 * index goes first. Scores are magnitudes |w| (or anything where smaller means less important).
 */
public final class MaskRules {
    private MaskRules() {}

    /** Number of elements pruned from n at sparsity s: round(s * n), clamped to [0, n]. */
    public static int prunedCount(double sparsity, long n) {
        if (!(sparsity >= 0 && sparsity <= 1)) throw new IllegalArgumentException("sparsity must be in [0, 1], got " + sparsity);
        return (int) Math.max(0, Math.min(n, Math.round(sparsity * n)));
    }

    /** Keeps all but the {@code round(s * n)} lowest-scoring elements. */
    public static boolean[] lowest(double[] scores, double sparsity) {
        int k = prunedCount(sparsity, scores.length);
        boolean[] keep = new boolean[scores.length];
        Arrays.fill(keep, true);
        if (k == 0) return keep;
        // the k-th smallest score is the threshold: prune everything below it, then the
        // lowest-index elements equal to it until k are pruned (same result as a full ranking)
        double[] sorted = new double[scores.length];
        for (int i = 0; i < sorted.length; i++) sorted[i] = key(scores[i]);
        Arrays.sort(sorted);
        double t = sorted[k - 1];
        int below = 0;
        for (double v : sorted) if (v < t) below++; else break;
        int ties = k - below;
        for (int i = 0; i < scores.length; i++) {
            double v = key(scores[i]);
            if (v < t) keep[i] = false;
            else if (v == t && ties > 0) {
                keep[i] = false;
                ties--;
            }
        }
        return keep;
    }

    /**
     * Global rule: one ranking across all layers, so layers get different sparsities but the
     * total pruned count is exactly round(s * total). Ties across layers go to the earlier layer.
     */
    public static boolean[][] lowestGlobal(List<double[]> scores, double sparsity) {
        int total = 0;
        for (double[] s : scores) total += s.length;
        double[] all = new double[total];
        int off = 0;
        for (double[] s : scores) {
            System.arraycopy(s, 0, all, off, s.length);
            off += s.length;
        }
        boolean[] keepAll = lowest(all, sparsity);
        boolean[][] out = new boolean[scores.size()][];
        off = 0;
        for (int l = 0; l < scores.size(); l++) {
            out[l] = Arrays.copyOfRange(keepAll, off, off + scores.get(l).length);
            off += scores.get(l).length;
        }
        return out;
    }

    /**
     * N:M rule over a [rows, cols] matrix: in each group of m consecutive elements of a row, keep
     * the n highest-scoring (ties: lower index kept). A last partial group of r &lt; m elements
     * keeps min(n, r), so no group of m ever holds more than n nonzeros.
     */
    public static boolean[] nOfM(double[] scores, int rows, int cols, int n, int m) {
        if (n < 0 || m < 1 || n > m) throw new IllegalArgumentException("N:M needs 0 <= N <= M and M >= 1, got " + n + ":" + m);
        if ((long) rows * cols != scores.length)
            throw new IllegalArgumentException("N:M: " + scores.length + " scores do not form a " + rows + "x" + cols + " matrix");
        boolean[] keep = new boolean[scores.length];
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < cols; g += m) {
                int start = r * cols + g, len = Math.min(m, cols - g);
                double[] group = Arrays.copyOfRange(scores, start, start + len);
                Integer[] order = rank(group);
                for (int i = Math.max(0, len - n); i < len; i++) keep[start + order[i]] = true;
            }
        }
        return keep;
    }

    /** Random rule (the baseline): exactly round(s * n) elements chosen uniformly (partial Fisher-Yates). */
    public static boolean[] random(int size, double sparsity, Generator g) {
        int k = prunedCount(sparsity, size);
        int[] idx = new int[size];
        for (int i = 0; i < size; i++) idx[i] = i;
        boolean[] keep = new boolean[size];
        Arrays.fill(keep, true);
        for (int i = 0; i < k; i++) {
            int j = i + g.nextInt(size - i);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            keep[idx[i]] = false;
        }
        return keep;
    }

    /** Indices sorted by (score, index) ascending; NaN scores rank lowest (pruned first). */
    static Integer[] rank(double[] scores) {
        Integer[] order = new Integer[scores.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Double.compare(key(scores[a]), key(scores[b]));
            return c != 0 ? c : Integer.compare(a, b);
        });
        return order;
    }

    private static double key(double s) { return Double.isNaN(s) ? Double.NEGATIVE_INFINITY : s; }

    /** Number of true entries. */
    public static int count(boolean[] keep) {
        int c = 0;
        for (boolean b : keep) if (b) c++;
        return c;
    }
}
