package dev.kiln.optim;

/**
 * Learning-rate schedules, stepped once per epoch (or per step, as the caller chooses), with
 * PyTorch's closed forms: lr(t) for t = number of step() calls so far.
 */
public abstract class LrSchedule {
    protected final Optimizer opt;
    protected final double baseLr;
    protected long t;

    protected LrSchedule(Optimizer opt) {
        this.opt = opt;
        this.baseLr = opt.lr();
    }

    /** Advances one step and sets the optimizer's learning rate. */
    public void step() {
        t++;
        opt.setLr(lrAt(t));
    }

    public long count() { return t; }

    public abstract double lrAt(long t);

    /** StepLR: lr * gamma^floor(t / stepSize). */
    public static LrSchedule step(Optimizer o, int stepSize, double gamma) {
        return new LrSchedule(o) {
            @Override public double lrAt(long t) { return baseLr * Math.pow(gamma, Math.floorDiv(t, stepSize)); }
        };
    }

    /** ExponentialLR: lr * gamma^t. */
    public static LrSchedule exponential(Optimizer o, double gamma) {
        return new LrSchedule(o) {
            @Override public double lrAt(long t) { return baseLr * Math.pow(gamma, t); }
        };
    }

    /** CosineAnnealingLR: etaMin + (lr - etaMin) * (1 + cos(pi * t / tMax)) / 2. */
    public static LrSchedule cosine(Optimizer o, int tMax, double etaMin) {
        return new LrSchedule(o) {
            @Override public double lrAt(long t) { return etaMin + (baseLr - etaMin) * (1 + Math.cos(Math.PI * Math.min(t, tMax) / tMax)) / 2; }
        };
    }

    /**
     * Linear warm-up (torch LinearLR with start factor s, end factor 1): factor rises linearly from
     * s at t = 0 to 1 at t = warmupSteps, then stays 1. The optimizer starts at lr * s.
     */
    public static LrSchedule linearWarmup(Optimizer o, int warmupSteps, double startFactor) {
        LrSchedule s = new LrSchedule(o) {
            @Override public double lrAt(long t) {
                if (t >= warmupSteps) return baseLr;
                return baseLr * (startFactor + (1 - startFactor) * t / (double) warmupSteps);
            }
        };
        o.setLr(s.lrAt(0));
        return s;
    }

    /**
     * Linear warm-up then cosine decay, the usual schedule for transformer training:
     * {@code lr * t / w} while {@code t < w} (the optimizer starts at 0 when {@code w > 0}), then
     * {@code etaMin + (lr - etaMin) * (1 + cos(pi * (t - w) / (total - w))) / 2} until {@code t = total},
     * etaMin after.
     */
    public static LrSchedule warmupCosine(Optimizer o, int warmupSteps, int totalSteps, double etaMin) {
        if (warmupSteps < 0 || totalSteps <= warmupSteps)
            throw new IllegalArgumentException("warmupCosine: need 0 <= warmupSteps < totalSteps, got " + warmupSteps + " and " + totalSteps);
        LrSchedule s = new LrSchedule(o) {
            @Override public double lrAt(long t) {
                if (t < warmupSteps) return baseLr * t / warmupSteps;
                double f = Math.min(1.0, (t - warmupSteps) / (double) (totalSteps - warmupSteps));
                return etaMin + (baseLr - etaMin) * (1 + Math.cos(Math.PI * f)) / 2;
            }
        };
        o.setLr(s.lrAt(0));
        return s;
    }
}
