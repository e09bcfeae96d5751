package dev.kiln.optim;

import dev.kiln.tensor.Tensor;

/**
 * Gradient accumulation over k micro-batches: each micro-batch loss is scaled by 1/k before
 * backward, gradients add up in the parameters, and the optimizer steps (and zeroes the
 * gradients) once every k micro-batches: the same update as one batch k times larger when the
 * loss is a mean over the batch. {@link #flush} steps on a partial window (the trainer calls it at
 * the end of each epoch, so no micro-batch's gradient is carried into the next epoch or lost).
 */
public final class GradientAccumulator {
    private final Optimizer opt;
    private final int k;
    private int pending;

    public GradientAccumulator(Optimizer opt, int k) {
        if (k < 1) throw new IllegalArgumentException("gradient accumulation: k must be >= 1, got " + k);
        this.opt = opt;
        this.k = k;
    }

    /** Backpropagates loss / k; steps the optimizer after every k-th call. Returns true if it stepped. */
    public boolean backward(Tensor loss) {
        Tensor scaled = k == 1 ? loss : loss.div((double) k);
        scaled.backward();
        if (++pending == k) {
            opt.step();
            opt.zeroGrad();
            pending = 0;
            return true;
        }
        return false;
    }

    public int pending() { return pending; }

    /**
     * Steps the optimizer on the gradients of a partial window (fewer than k micro-batches, each
     * still scaled by 1/k, as PyTorch's usual accumulation loop does), if there is one. Returns
     * true if it stepped.
     */
    public boolean flush() {
        if (pending == 0) return false;
        opt.step();
        opt.zeroGrad();
        pending = 0;
        return true;
    }
}
