package dev.kiln.dist;

import dev.kiln.optim.Optimizer;

import java.util.Map;

/**
 * An optimizer that finishes {@link DistributedDataParallel}'s gradient all-reduce before each step:
 * {@code step()} = {@code ddp.finishGradients(); opt.step()}. Every other call (learning rate,
 * state dict, zeroGrad, close) goes to the wrapped optimizer, so schedules and checkpoints see it.
 */
final class SyncedOptimizer extends Optimizer {
    private final DistributedDataParallel ddp;
    private final Optimizer inner;

    SyncedOptimizer(DistributedDataParallel ddp, Optimizer inner) {
        super(inner.params(), inner.lr());
        this.ddp = ddp;
        this.inner = inner;
    }

    @Override
    public void step() {
        ddp.finishGradients();
        inner.step();
    }

    @Override public void zeroGrad() { inner.zeroGrad(); }
    @Override public double lr() { return inner.lr(); }
    @Override public void setLr(double lr) { inner.setLr(lr); }
    @Override public long steps() { return inner.steps(); }
    @Override public Map<String, dev.kiln.tensor.Tensor> stateOf(int i) { return inner.stateOf(i); }
    @Override public Map<String, dev.kiln.tensor.Tensor> stateDict() { return inner.stateDict(); }
    @Override public void loadStateDict(Map<String, dev.kiln.tensor.Tensor> sd) { inner.loadStateDict(sd); }
    @Override public void close() { inner.close(); }

    @Override public String toString() { return "Synced(" + inner + ")"; }
}
