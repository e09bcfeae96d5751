package dev.kiln.compress.prune;

import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Wraps an optimizer so pruned weights stay exactly zero: before each step the gradients of pruned
 * weights are zeroed, after it the masks are re-applied to the weights and to the optimizer's
 * per-parameter state (momentum buffers, Adam moments), so no stale state can revive a pruned
 * weight. Learning rate, state dict and closing go to the wrapped optimizer (schedules work on
 * either). Listeners run after every step with the step count (gradual pruning hooks in here).
 */
public final class MaskedOptimizer extends Optimizer {
    private final Optimizer inner;
    private MaskSet masks;
    private final List<LongConsumer> afterStep = new ArrayList<>();

    public MaskedOptimizer(Optimizer inner, MaskSet masks) {
        super(inner.params(), inner.lr());
        this.inner = inner;
        this.masks = masks;
    }

    public Optimizer inner() { return inner; }
    public MaskSet masks() { return masks; }

    /** Switches to other masks (applied at once to weights and state). */
    public void setMasks(MaskSet m) {
        this.masks = m;
        enforce();
    }

    /** Adds a listener called after every step with the number of steps taken so far. */
    public void onStep(LongConsumer listener) { afterStep.add(listener); }

    @Override
    public void step() {
        masks.maskGradients();
        inner.step();
        enforce();
        for (LongConsumer l : afterStep) l.accept(inner.steps());
    }

    /** Zeroes pruned weights and their optimizer state. */
    public void enforce() {
        masks.apply();
        List<Tensor> ps = inner.params();
        for (int i = 0; i < ps.size(); i++) {
            Map<String, Tensor> st = inner.stateOf(i);
            if (!st.isEmpty()) masks.maskState(ps.get(i), st);
        }
    }

    @Override public void zeroGrad() { inner.zeroGrad(); }
    @Override public double lr() { return inner.lr(); }
    @Override public void setLr(double lr) { inner.setLr(lr); }
    @Override public long steps() { return inner.steps(); }
    @Override public Map<String, Tensor> stateDict() { return inner.stateDict(); }
    @Override public void loadStateDict(Map<String, Tensor> sd) { inner.loadStateDict(sd); }
    @Override public void close() { inner.close(); }
}
