package dev.kiln.compress.prune;

/**
 * Zhu &amp; Gupta's cubic sparsity schedule ("To prune, or not to prune", 2017): pruning happens at
 * steps t0, t0 + dt, ..., t0 + n*dt with sparsity
 * <pre>  s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3</pre>
 * so it rises fast at first and levels off at s_f; before t0 it is s_i's step (no pruning yet),
 * after t0 + n*dt it stays s_f.
 */
public record GradualSchedule(double initialSparsity, double finalSparsity, long startStep, int steps, long interval) {
    public GradualSchedule {
        if (!(initialSparsity >= 0 && initialSparsity <= 1 && finalSparsity >= 0 && finalSparsity <= 1))
            throw new IllegalArgumentException("gradual pruning: sparsities must be in [0, 1], got " + initialSparsity + " -> " + finalSparsity);
        if (startStep < 0 || steps < 1 || interval < 1)
            throw new IllegalArgumentException("gradual pruning: need t0 >= 0, n >= 1, dt >= 1, got t0=" + startStep + " n=" + steps + " dt=" + interval);
    }

    /**
     * A schedule from s_i = 0 that prunes over the first {@code fraction} of totalSteps (starting at
     * step 0) in about {@code prunings} steps, leaving the rest to fine-tune at s_f.
     */
    public static GradualSchedule over(double finalSparsity, long totalSteps, double fraction, int prunings) {
        long span = Math.max(1, Math.round(totalSteps * fraction));
        long dt = Math.max(1, span / Math.max(1, prunings));
        int n = (int) Math.max(1, span / dt);
        return new GradualSchedule(0, finalSparsity, 0, n, dt);
    }

    /** The target sparsity at step t (clamped outside [t0, t0 + n dt]). */
    public double sparsityAt(long t) {
        if (t <= startStep) return initialSparsity;
        double progress = Math.min(1.0, (t - startStep) / (double) (steps * interval));
        double r = 1 - progress;
        return finalSparsity + (initialSparsity - finalSparsity) * r * r * r;
    }

    /** True at t0, t0 + dt, ..., t0 + n dt. */
    public boolean isPruningStep(long t) {
        return t >= startStep && t <= endStep() && (t - startStep) % interval == 0;
    }

    public long endStep() { return startStep + steps * interval; }
}
