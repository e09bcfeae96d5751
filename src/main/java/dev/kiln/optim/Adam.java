package dev.kiln.optim;

import dev.kiln.tensor.Tensor;

import java.util.List;

/** Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), as in PyTorch. */
public final class Adam extends Optimizer {
    private final double beta1, beta2, eps, weightDecay;
    private final boolean decoupled;

    private Adam(List<Tensor> params, double lr, double beta1, double beta2, double eps, double weightDecay, boolean decoupled) {
        super(params, lr);
        if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1)
            throw new IllegalArgumentException("Adam: betas must be in [0, 1), got " + beta1 + ", " + beta2);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.decoupled = decoupled;
    }

    public static Adam adam(List<Tensor> params, double lr) { return new Adam(params, lr, 0.9, 0.999, 1e-8, 0, false); }

    public static Adam adam(List<Tensor> params, double lr, double beta1, double beta2, double eps, double weightDecay) {
        return new Adam(params, lr, beta1, beta2, eps, weightDecay, false);
    }

    /** AdamW with PyTorch's defaults (weight decay 0.01). */
    public static Adam adamW(List<Tensor> params, double lr) { return new Adam(params, lr, 0.9, 0.999, 1e-8, 0.01, true); }

    public static Adam adamW(List<Tensor> params, double lr, double beta1, double beta2, double eps, double weightDecay) {
        return new Adam(params, lr, beta1, beta2, eps, weightDecay, true);
    }

    @Override
    public void step() {
        steps++;
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            Tensor g = p.grad();
            if (g == null) continue;
            Tensor m = stateFor(i, "exp_avg"), v = stateFor(i, "exp_avg_sq");
            p.backend().adamStep(p, g, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, steps);
        }
    }
}
