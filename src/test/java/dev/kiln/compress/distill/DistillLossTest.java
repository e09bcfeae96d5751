package dev.kiln.compress.distill;

import dev.kiln.autograd.GradCheck;
import dev.kiln.nn.Loss;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The KD loss against a hand computation in float64, its gradient against finite differences, edge cases. */
class DistillLossTest {
    private final Generator gen = new Generator(7);
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    private Tensor logits(int n, int c) { return Tensor.uniform(gen, -3, 3, DType.F64, n, c); }

    private static double[] softmax(double[] z, double t) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double v : z) max = Math.max(max, v / t);
        double[] p = new double[z.length];
        for (int i = 0; i < z.length; i++) sum += p[i] = Math.exp(z[i] / t - max);
        for (int i = 0; i < z.length; i++) p[i] /= sum;
        return p;
    }

    /** alpha T^2 mean_i KL(p_t || p_s) + (1 - alpha) mean_i -log softmax(s_i)[y_i], in plain doubles. */
    private static double reference(double[][] s, double[][] t, long[] y, double temp, double alpha) {
        double kl = 0, ce = 0;
        for (int i = 0; i < s.length; i++) {
            double[] p = softmax(t[i], temp), q = softmax(s[i], temp), q1 = softmax(s[i], 1);
            for (int j = 0; j < p.length; j++) kl += p[j] * (Math.log(p[j]) - Math.log(q[j]));
            ce -= Math.log(q1[(int) y[i]]);
        }
        return alpha * temp * temp * kl / s.length + (1 - alpha) * ce / s.length;
    }

    private static double[][] rows(Tensor t) {
        double[][] r = new double[t.size(0)][t.size(1)];
        for (int i = 0; i < r.length; i++) for (int j = 0; j < r[i].length; j++) r[i][j] = t.getDouble(i, j);
        return r;
    }

    @Test void valueMatchesHandComputation() {
        Tensor s = logits(5, 4), t = logits(5, 4);
        long[] y = {0, 3, 1, 2, 3};
        Tensor labels = Tensor.fromArray(y, 5);
        for (double temp : new double[]{1, 2, 4.5, 20})
            for (double alpha : new double[]{0, 0.3, 0.9, 1}) {
                double got = DistillLoss.loss(s, t, labels, temp, alpha).item();
                double want = reference(rows(s), rows(t), y, temp, alpha);
                assertEquals(want, got, 1e-12 * Math.max(1, Math.abs(want)), "T=" + temp + " alpha=" + alpha);
            }
    }

    @Test void gradientMatchesFiniteDifferences() {
        Tensor t = logits(3, 4);
        Tensor labels = Tensor.fromArray(new long[]{3, 0, 2}, 3);
        for (double[] ta : new double[][]{{1, 0}, {1, 0.5}, {4, 0.5}, {10, 1}})
            GradCheck.check("kd T=" + ta[0] + " alpha=" + ta[1], a -> DistillLoss.loss(a[0], t, labels, ta[0], ta[1]), logits(3, 4));
    }

    @Test void gradientIsTheClosedForm() {
        // d/ds = alpha T / N (softmax(s/T) - softmax(t/T)) + (1 - alpha) / N (softmax(s) - onehot(y))
        double temp = 3, alpha = 0.7;
        Tensor s = logits(3, 4).requiresGrad(true), t = logits(3, 4);
        long[] y = {1, 0, 3};
        DistillLoss.loss(s, t, Tensor.fromArray(y, 3), temp, alpha).backward();
        double[][] sr = rows(s), tr = rows(t);
        for (int i = 0; i < 3; i++) {
            double[] q = softmax(sr[i], temp), p = softmax(tr[i], temp), q1 = softmax(sr[i], 1);
            for (int j = 0; j < 4; j++) {
                double want = alpha * temp / 3 * (q[j] - p[j]) + (1 - alpha) / 3 * (q1[j] - (y[i] == j ? 1 : 0));
                assertEquals(want, s.grad().getDouble(i, j), 1e-12);
            }
        }
    }

    @Test void teacherGetsNoGradient() {
        Tensor s = logits(3, 4).requiresGrad(true), t = logits(3, 4).requiresGrad(true);
        DistillLoss.loss(s, t, Tensor.fromArray(new long[]{0, 1, 2}, 3), 2, 0.5).backward();
        assertNull(t.grad(), "the teacher is a constant");
        assertTrue(s.grad() != null);
    }

    @Test void edgeCasesOfAlphaAndTemperature() {
        Tensor s = logits(6, 3), t = logits(6, 3);
        Tensor labels = Tensor.fromArray(new long[]{0, 1, 2, 0, 1, 2}, 6);
        // alpha = 0: plain cross-entropy; alpha = 1: labels unused
        assertEquals(Loss.crossEntropy(s, labels).item(), DistillLoss.loss(s, t, labels, 4, 0).item(), 0);
        assertEquals(16 * DistillLoss.softTerm(s, t, 4).item(), DistillLoss.loss(s, t, null, 4, 1).item(), 1e-12);
        // a student equal to its teacher has zero soft loss at any T
        assertEquals(0, DistillLoss.loss(t, t, null, 0.5, 1).item(), 1e-12);
        // small T with large logits stays finite (log-softmax on both sides)
        Tensor big = s.mul(100.0), bigT = t.mul(100.0);
        double v = DistillLoss.loss(big, bigT, labels, 0.05, 0.5).item();
        assertTrue(Double.isFinite(v) && v >= 0, "finite: " + v);
        // large T: the soft term tends to (1 / 2C) mean_i |centred(s_i - t_i)|^2 / ... > 0, and T^2 keeps it O(1)
        double hot = DistillLoss.loss(s, t, null, 1000, 1).item();
        assertTrue(hot > 1e-3 && hot < 10, "T^2-scaled soft term at T = 1000: " + hot);
        for (double bad : new double[]{0, -1, Double.NaN, Double.POSITIVE_INFINITY})
            assertThrows(IllegalArgumentException.class, () -> DistillLoss.loss(s, t, labels, bad, 0.5), "T=" + bad);
        for (double bad : new double[]{-0.1, 1.1, Double.NaN})
            assertThrows(IllegalArgumentException.class, () -> DistillLoss.loss(s, t, labels, 2, bad), "alpha=" + bad);
        assertThrows(IllegalArgumentException.class, () -> DistillLoss.loss(s, logits(6, 4), labels, 2, 0.5));
    }
}
