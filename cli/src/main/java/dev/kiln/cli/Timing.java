package dev.kiln.cli;

import java.util.Arrays;

/**
 * Wall-clock timing for the CLI's benchmarks and demo: warm-up runs, then timed runs until a
 * count or a time budget is reached; the median is reported (robust to noisy neighbours).
 */
final class Timing {
    private Timing() {}

    /** A timed action; may throw (the exception aborts the measurement). */
    interface Action { void run() throws Exception; }

    /**
     * Median seconds of one run of action.
     *
     * @param warmup   untimed runs first (JIT compilation, page faults)
     * @param maxRuns  at most this many timed runs
     * @param budgetS  stop timing after this many seconds (at least one timed run is always made)
     */
    static double medianSeconds(Action action, int warmup, int maxRuns, double budgetS) throws Exception {
        if (maxRuns < 1) throw new IllegalArgumentException("timing: runs must be >= 1, got " + maxRuns);
        for (int i = 0; i < warmup; i++) action.run();
        double[] t = new double[maxRuns];
        long deadline = System.nanoTime() + (long) (budgetS * 1e9);
        int n = 0;
        while (n < maxRuns && (n == 0 || System.nanoTime() < deadline)) {
            long t0 = System.nanoTime();
            action.run();
            t[n++] = (System.nanoTime() - t0) * 1e-9;
        }
        return median(Arrays.copyOf(t, n));
    }

    /**
     * Median seconds of a and of b, timed in turn (a, b, a, b, ...) for runs rounds after warmup
     * untimed rounds: a peer timed beside each call sees the same machine, which on a shared VM
     * moves by more than the ratios being measured.
     */
    static double[] interleavedMedians(Action a, Action b, int warmup, int runs) throws Exception {
        if (runs < 1) throw new IllegalArgumentException("timing: runs must be >= 1, got " + runs);
        for (int i = 0; i < warmup; i++) {
            a.run();
            b.run();
        }
        double[] ta = new double[runs], tb = new double[runs];
        for (int r = 0; r < runs; r++) {
            long t0 = System.nanoTime();
            a.run();
            long t1 = System.nanoTime();
            b.run();
            ta[r] = (t1 - t0) * 1e-9;
            tb[r] = (System.nanoTime() - t1) * 1e-9;
        }
        return new double[]{median(ta), median(tb)};
    }

    static double median(double[] values) {
        if (values.length == 0) throw new IllegalArgumentException("median of no values");
        double[] s = values.clone();
        Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : 0.5 * (s[m - 1] + s[m]);
    }
}
