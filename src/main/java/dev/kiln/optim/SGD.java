package dev.kiln.optim;

import dev.kiln.tensor.Tensor;

import java.util.List;

/** Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (PyTorch's SGD). */
public final class SGD extends Optimizer {
    private final double momentum, dampening, weightDecay;
    private final boolean nesterov;

    public SGD(List<Tensor> params, double lr) { this(params, lr, 0, 0, 0, false); }

    public SGD(List<Tensor> params, double lr, double momentum, double dampening, double weightDecay, boolean nesterov) {
        super(params, lr);
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new IllegalArgumentException("SGD: Nesterov momentum requires a momentum and zero dampening");
        this.momentum = momentum;
        this.dampening = dampening;
        this.weightDecay = weightDecay;
        this.nesterov = nesterov;
    }

    @Override
    public void step() {
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            Tensor g = p.grad();
            if (g == null) continue;
            Tensor buf = null;
            boolean first = false;
            if (momentum != 0) {
                first = !hasState(i, "momentum_buffer");
                buf = stateFor(i, "momentum_buffer");
            }
            p.backend().sgdStep(p, g, buf, lr, momentum, dampening, weightDecay, nesterov, first);
        }
        steps++;
    }
}
