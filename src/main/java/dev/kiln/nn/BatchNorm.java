package dev.kiln.nn;

import dev.kiln.autograd.GradMode;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

/**
 * BatchNorm1d ([N, C] or [N, C, L]) and BatchNorm2d ([N, C, H, W]). Training normalizes with the
 * batch statistics (biased variance) and updates running_mean / running_var (unbiased) with
 * momentum; eval uses the running statistics. State names match PyTorch, incl. num_batches_tracked.
 */
public final class BatchNorm extends Module {
    private final int features, spatialDims;
    private final double eps, momentum;
    private final Tensor weight, bias, runningMean, runningVar, numBatches;

    private BatchNorm(int features, int spatialDims, double eps, double momentum) {
        this.features = features;
        this.spatialDims = spatialDims;
        this.eps = eps;
        this.momentum = momentum;
        this.weight = registerParameter("weight", Tensor.ones(features));
        this.bias = registerParameter("bias", Tensor.zeros(features));
        this.runningMean = registerBuffer("running_mean", Tensor.zeros(features));
        this.runningVar = registerBuffer("running_var", Tensor.ones(features));
        this.numBatches = registerBuffer("num_batches_tracked", Tensor.zeros(DType.I64));
    }

    public static BatchNorm batchNorm1d(int features) { return new BatchNorm(features, 1, 1e-5, 0.1); }
    public static BatchNorm batchNorm2d(int features) { return new BatchNorm(features, 2, 1e-5, 0.1); }
    public static BatchNorm of(int features, int spatialDims, double eps, double momentum) { return new BatchNorm(features, spatialDims, eps, momentum); }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }
    public Tensor runningMean() { return runningMean; }
    public Tensor runningVar() { return runningVar; }
    public double eps() { return eps; }
    public double momentum() { return momentum; }
    /** 1 for BatchNorm1d, 2 for BatchNorm2d. */
    public int spatialDims() { return spatialDims; }

    @Override
    public Tensor forward(Tensor x) {
        int r = x.dim();
        boolean ok = spatialDims == 2 ? r == 4 : (r == 2 || r == 3);
        if (!ok || x.shape()[1] != features)
            throw new IllegalArgumentException("BatchNorm" + spatialDims + "d(" + features + "): bad input shape " + java.util.Arrays.toString(x.shape()));
        int[] axes = new int[r - 1];
        axes[0] = 0;
        for (int i = 2; i < r; i++) axes[i - 1] = i;
        int[] chan = new int[r];
        java.util.Arrays.fill(chan, 1);
        chan[1] = features;
        Tensor mean, var;
        if (isTraining()) {
            mean = x.mean(axes, true);
            var = x.var(axes, true, 0);
            long n = x.numel() / features;
            try (GradMode.Guard g = GradMode.noGrad()) {
                Tensor m = mean.reshape(features), v = var.reshape(features).mul(n / (double) Math.max(n - 1, 1));
                runningMean.copyFrom(runningMean.mul(1 - momentum).add(m.mul(momentum)));
                runningVar.copyFrom(runningVar.mul(1 - momentum).add(v.mul(momentum)));
                numBatches.copyFrom(numBatches.add(Tensor.scalar(1, DType.I64)));
            }
        } else {
            mean = runningMean.reshape(chan);
            var = runningVar.reshape(chan);
        }
        Tensor xhat = x.sub(mean).mul(var.add(eps).rsqrt());
        return xhat.mul(weight.reshape(chan)).add(bias.reshape(chan));
    }

    @Override protected String extraRepr() { return features + ", eps=" + eps + ", momentum=" + momentum; }
}
