package dev.kiln.compress.prune;

import dev.kiln.nn.Module;
import dev.kiln.optim.Optimizer;

import java.util.List;

/**
 * Gradual magnitude pruning interleaved with training: wraps an optimizer in a
 * {@link MaskedOptimizer} and, after each step t where the {@link GradualSchedule} prunes,
 * recomputes the magnitude masks at s_t (weights already pruned stay pruned). Use
 * {@link #optimizer()} in the training loop in place of the wrapped optimizer.
 */
public final class GradualPruner implements AutoCloseable {
    private final List<PruneTarget> targets;
    private final GradualSchedule schedule;
    private final boolean global;
    private final MaskedOptimizer opt;
    private final MaskSet masks;
    private int prunings;

    public GradualPruner(Module model, Optimizer inner, GradualSchedule schedule, boolean global) {
        this.targets = PruneTarget.of(model);
        this.schedule = schedule;
        this.global = global;
        this.masks = Pruner.magnitude(targets, schedule.sparsityAt(0), global, null);
        this.opt = new MaskedOptimizer(inner, masks);
        opt.onStep(this::afterStep);
    }

    public MaskedOptimizer optimizer() { return opt; }
    public MaskSet masks() { return masks; }
    public GradualSchedule schedule() { return schedule; }
    /** How many times the masks were recomputed so far. */
    public int prunings() { return prunings; }

    private void afterStep(long t) {
        if (!schedule.isPruningStep(t)) return;
        masks.update(Pruner.magnitudeKeeps(targets, schedule.sparsityAt(t), global, masks));
        opt.enforce();
        prunings++;
    }

    /** Frees the masks (the optimizer belongs to the caller). */
    @Override public void close() { masks.close(); }
}
