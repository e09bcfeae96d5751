package dev.kiln.compress.distill;

import dev.kiln.nn.Loss;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * Knowledge-distillation loss (Hinton, Vinyals and Dean, 2015):
 * <pre>
 *   L = alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, labels)
 * </pre>
 * with student logits s [N, C], teacher logits t [N, C], KL summed over classes and averaged over
 * the batch (PyTorch's "batchmean"). The T^2 factor keeps the soft term's gradient magnitude
 * independent of T (its gradient scales as 1/T^2). The teacher is a constant: its logits are
 * detached, so gradients flow into the student only. Built from differentiable ops (log-softmax,
 * exp, mul, sum), so the gradient comes from the op rules; it equals
 * {@code alpha * T / N * (softmax(s/T) - softmax(t/T)) + (1 - alpha) * dCE}.
 * Edge cases: alpha = 0 is plain cross-entropy (the teacher term is not computed), alpha = 1 is
 * pure distillation (labels unused, may be null).
 */
public final class DistillLoss {
    private DistillLoss() {}

    /** Temperature T > 0 and weight alpha in [0, 1] of the soft (teacher) term. */
    public record Config(double temperature, double alpha) {
        public Config {
            if (!(temperature > 0) || Double.isInfinite(temperature))
                throw new IllegalArgumentException("distill: temperature must be a finite number > 0, got " + temperature);
            if (!(alpha >= 0 && alpha <= 1))
                throw new IllegalArgumentException("distill: alpha must be in [0, 1], got " + alpha);
        }
    }

    public static Tensor loss(Tensor student, Tensor teacher, Tensor labels, Config c) {
        return loss(student, teacher, labels, c.temperature(), c.alpha());
    }

    /** The combined loss (a scalar); see the class comment. */
    public static Tensor loss(Tensor student, Tensor teacher, Tensor labels, double temperature, double alpha) {
        new Config(temperature, alpha);
        checkLogits(student, teacher);
        if (alpha == 0) return Loss.crossEntropy(student, labels);
        Tensor soft = softTerm(student, teacher, temperature).mul(alpha * temperature * temperature);
        if (alpha == 1) return soft;
        return soft.add(Loss.crossEntropy(student, labels).mul(1 - alpha));
    }

    /**
     * KL(softmax(t/T) || softmax(s/T)) summed over classes, averaged over rows; computed with
     * log-softmax on both sides (stable for large logits and small T).
     */
    public static Tensor softTerm(Tensor student, Tensor teacher, double temperature) {
        checkLogits(student, teacher);
        Tensor logP = teacher.detach().div(temperature).logSoftmax(1);
        Tensor logQ = student.div(temperature).logSoftmax(1);
        return Loss.klDiv(logQ, logP, Loss.Reduction.BATCHMEAN, true);
    }

    private static void checkLogits(Tensor student, Tensor teacher) {
        if (student.dim() != 2 || !java.util.Arrays.equals(student.shape(), teacher.shape()))
            throw new IllegalArgumentException("distill: student logits " + Shape.str(student.shape()) + " and teacher logits "
                    + Shape.str(teacher.shape()) + " must both be [N, C]");
    }
}
