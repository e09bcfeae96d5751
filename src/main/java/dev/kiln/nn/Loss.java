package dev.kiln.nn;

import dev.kiln.ops.Indexing;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * Loss functions as formulas over differentiable ops (so their gradients come from the op rules).
 * Reductions follow PyTorch: MEAN (default), SUM, NONE, and BATCHMEAN for KL divergence.
 */
public final class Loss {
    private Loss() {}

    public enum Reduction { MEAN, SUM, NONE, BATCHMEAN }

    private static Tensor reduce(Tensor l, Reduction r, int batch) {
        return switch (r) {
            case MEAN -> l.mean();
            case SUM -> l.sum();
            case NONE -> l;
            case BATCHMEAN -> l.sum().div((double) batch);
        };
    }

    /** Cross-entropy of logits [N, C] against class indices [N] (I64/I32), with label smoothing. */
    public static Tensor crossEntropy(Tensor logits, Tensor target, double labelSmoothing, Reduction r) {
        checkClassTarget("cross_entropy", logits, target);
        if (labelSmoothing == 0 && (r == Reduction.MEAN || r == Reduction.SUM) && logits.dim() == 2
                && (logits.dtype() == DType.F32 || logits.dtype() == DType.F64) && Tensor.needsGrad(logits))
            return fusedCrossEntropy(logits, target, r);
        Tensor lsm = logits.logSoftmax(1);
        Tensor nll = Indexing.gather(lsm, 1, target.reshape(-1, 1)).reshape(-1).neg();
        if (labelSmoothing > 0) {
            Tensor smooth = lsm.mean(new int[]{1}, false).neg();
            nll = nll.mul(1 - labelSmoothing).add(smooth.mul(labelSmoothing));
        }
        return reduce(nll, r, logits.shape()[0]);
    }

    /**
     * Mean or summed cross-entropy recorded as one node: the gradient (softmax(x) - onehot) * g / N
     * (N = 1 for SUM) is written in one pass from the saved log-probabilities, instead of a scatter
     * into a zeroed [N, C] tensor followed by the log-softmax backward (at GPT-2's vocabulary,
     * 2048 x 50257 floats, those were 1.5 s of a training step).
     */
    private static Tensor fusedCrossEntropy(Tensor logits, Tensor target, Reduction r) {
        int n = logits.shape()[0];
        Tensor lsm, loss, idx = target.reshape(-1, 1);
        try (dev.kiln.autograd.GradMode.Guard ng = dev.kiln.autograd.GradMode.noGrad()) {
            lsm = logits.logSoftmax(1);
            Tensor nll = Indexing.gather(lsm, 1, idx).reshape(-1).neg();
            loss = r == Reduction.MEAN ? nll.mean() : nll.sum();
        }
        double scale = r == Reduction.MEAN ? 1.0 / n : 1.0;
        return loss.setGradFn(new dev.kiln.autograd.Node("cross_entropy", logits) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor dx = lsm.exp();                                       // softmax
                try (Tensor minusOne = Tensor.full(-1.0, dx.dtype(), n, 1)) {
                    if (minusOne.backend() == dx.backend()) dx.backend().scatterAdd(dx, 1, idx, minusOne);   // - onehot(target)
                    else try (Tensor there = minusOne.to(dx.backend())) { dx.backend().scatterAdd(dx, 1, idx, there); }
                }
                try (Tensor s = g.to(dx.dtype()).mul(scale); Tensor se = s.expand(dx.shape())) {
                    dx.backend().binary(dev.kiln.ops.BinaryOp.MUL, dx, se, dx);   // in place
                }
                return new Tensor[]{dx};
            }

            @Override protected void release() { lsm.close(); }
        });
    }

    public static Tensor crossEntropy(Tensor logits, Tensor target) { return crossEntropy(logits, target, 0, Reduction.MEAN); }

    /**
     * Cross-entropy of logits [..., C] with the classes on the last dim ([N, C], or [N, T, C] for a
     * sequence model; note PyTorch's higher-rank form puts C second) against class indices of shape
     * [...] (I64/I32). Targets equal to ignoreIndex (PyTorch's ignore_index, -100 there by default)
     * add nothing and do not count in the mean (all ignored: NaN, as in PyTorch); with NONE their
     * entries are 0. Label smoothing as in {@link #crossEntropy(Tensor, Tensor, double, Reduction)}.
     */
    public static Tensor crossEntropy(Tensor logits, Tensor target, int ignoreIndex, double labelSmoothing, Reduction r) {
        int[] ls = logits.shape();
        if (ls.length < 2) throw new IllegalArgumentException("cross_entropy: input must be [..., C] of rank >= 2, got " + Shape.str(ls));
        int[] lead = java.util.Arrays.copyOf(ls, ls.length - 1);
        if (!java.util.Arrays.equals(lead, target.shape()) && !(ls.length == 2 && target.numel() == ls[0]))
            throw new IllegalArgumentException("cross_entropy: target shape " + Shape.str(target.shape()) + " must be the input's leading dims "
                    + Shape.str(lead) + " (input " + Shape.str(ls) + ", classes last)");
        int c = ls[ls.length - 1], n = Math.toIntExact(logits.numel() / Math.max(1, c));
        Tensor flat = logits.reshape(n, c), t = target.reshape(n);
        checkClassTarget("cross_entropy", flat, t);
        long[] tv = t.toLongArray();
        float[] keep = new float[n];
        long[] safe = new long[n];
        int kept = 0;
        for (int i = 0; i < n; i++) {
            if (tv[i] == ignoreIndex) continue;
            if (tv[i] < 0 || tv[i] >= c)
                throw new IllegalArgumentException("cross_entropy: target " + tv[i] + " at " + i + " is outside [0, " + c + ") and is not ignore_index " + ignoreIndex);
            keep[i] = 1;
            safe[i] = tv[i];
            kept++;
        }
        if (kept == n) {
            Tensor l = crossEntropy(flat, t, labelSmoothing, r == Reduction.NONE ? Reduction.NONE : r);
            return r == Reduction.NONE ? l.reshape(lead) : l;
        }
        Tensor lsm = flat.logSoftmax(1);
        Tensor nll = Indexing.gather(lsm, 1, Tensor.fromArray(safe, n, 1)).reshape(-1).neg();
        if (labelSmoothing > 0) nll = nll.mul(1 - labelSmoothing).add(lsm.mean(new int[]{1}, false).neg().mul(labelSmoothing));
        Tensor l = nll.mul(Tensor.fromArray(keep, n).to(logits.dtype()));
        return switch (r) {
            case NONE -> l.reshape(lead);
            case SUM -> l.sum();
            case MEAN -> l.sum().div((double) kept);
            case BATCHMEAN -> throw new IllegalArgumentException("cross_entropy: reduction BATCHMEAN is for kl_div");
        };
    }

    /** Negative log-likelihood of log-probabilities [N, C] for class indices [N]. */
    public static Tensor nll(Tensor logProbs, Tensor target, Reduction r) {
        checkClassTarget("nll_loss", logProbs, target);
        Tensor l = Indexing.gather(logProbs, 1, target.reshape(-1, 1)).reshape(-1).neg();
        return reduce(l, r, logProbs.shape()[0]);
    }

    public static Tensor mse(Tensor input, Tensor target, Reduction r) {
        checkSame("mse_loss", input, target);
        return reduce(input.sub(target).square(), r, input.dim() > 0 ? input.shape()[0] : 1);
    }

    public static Tensor l1(Tensor input, Tensor target, Reduction r) {
        checkSame("l1_loss", input, target);
        return reduce(input.sub(target).abs(), r, input.dim() > 0 ? input.shape()[0] : 1);
    }

    /** Binary cross-entropy on logits, stable form max(x,0) - x*y + log(1 + exp(-|x|)). */
    public static Tensor bceWithLogits(Tensor logits, Tensor target, Reduction r) {
        checkSame("binary_cross_entropy_with_logits", logits, target);
        Tensor l = logits.relu().sub(logits.mul(target)).add(logits.abs().neg().exp().add(1.0).log());
        return reduce(l, r, logits.dim() > 0 ? logits.shape()[0] : 1);
    }

    /**
     * KL divergence as torch.nn.functional.kl_div: input holds log-probabilities; target holds
     * probabilities (or log-probabilities with logTarget). Pointwise target * (log target - input).
     */
    public static Tensor klDiv(Tensor input, Tensor target, Reduction r, boolean logTarget) {
        checkSame("kl_div", input, target);
        Tensor l;
        if (logTarget) l = target.exp().mul(target.sub(input));
        else {
            // 0 * log 0 = 0: clamp inside the log, then the product is 0 where target is 0
            Tensor logT = target.clamp(1e-38, Double.MAX_VALUE).log();
            l = target.mul(logT.sub(input));
        }
        return reduce(l, r, input.dim() > 0 ? input.shape()[0] : 1);
    }

    private static void checkClassTarget(String op, Tensor scores, Tensor target) {
        if (scores.dim() != 2)
            throw new IllegalArgumentException(op + ": input must be [N, C], got " + Shape.str(scores.shape()));
        if (target.dtype() != DType.I64 && target.dtype() != DType.I32)
            throw new IllegalArgumentException(op + ": target must hold class indices (int64), got " + target.dtype().pyName());
        if (target.numel() != scores.shape()[0])
            throw new IllegalArgumentException(op + ": target shape " + Shape.str(target.shape()) + " does not match input shape " + Shape.str(scores.shape()));
    }

    private static void checkSame(String op, Tensor a, Tensor b) {
        if (!java.util.Arrays.equals(a.shape(), b.shape()))
            throw new IllegalArgumentException(op + ": input shape " + Shape.str(a.shape()) + " != target shape " + Shape.str(b.shape()));
    }
}
