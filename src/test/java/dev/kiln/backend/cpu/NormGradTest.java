package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fused F32 layer norm backward against a float64 reference written out here (dx, dw, db on
 * odd and model-sized rows, with and without weight), and its dw/db independent of the thread count.
 */
class NormGradTest {
    /** {dx, dw, db} in double for y = layer_norm(x) * w + b over rows of d, upstream g. */
    private static double[][] reference(double[] x, double[] w, double[] g, int rows, int d, double eps) {
        double[] dx = new double[x.length], dw = new double[d], db = new double[d];
        for (int r = 0; r < rows; r++) {
            double mean = 0, var = 0;
            for (int j = 0; j < d; j++) mean += x[r * d + j];
            mean /= d;
            for (int j = 0; j < d; j++) var += (x[r * d + j] - mean) * (x[r * d + j] - mean);
            double rstd = 1 / Math.sqrt(var / d + eps), a = 0, c = 0;
            for (int j = 0; j < d; j++) {
                double xh = (x[r * d + j] - mean) * rstd, gh = g[r * d + j] * (w == null ? 1 : w[j]);
                a += gh;
                c += gh * xh;
                dw[j] += g[r * d + j] * xh;
                db[j] += g[r * d + j];
            }
            for (int j = 0; j < d; j++) {
                double xh = (x[r * d + j] - mean) * rstd, gh = g[r * d + j] * (w == null ? 1 : w[j]);
                dx[r * d + j] = rstd * (gh - a / d - xh * c / d);
            }
        }
        return new double[][]{dx, dw, db};
    }

    private static double[] values(Tensor t) {
        Tensor c = t.contiguous();
        double[] v = new double[(int) c.numel()];
        for (int i = 0; i < v.length; i++) v[i] = c.storage().getDouble(c.dtype(), c.offset() + i);
        return v;
    }

    private static Tensor[] grads(Tensor x0, Tensor w0, Tensor b0, Tensor g, int d) {
        Tensor x = x0.detach().requiresGrad(true), w = w0 == null ? null : w0.detach().requiresGrad(true),
                b = b0.detach().requiresGrad(true);
        x.layerNorm(new int[]{d}, w, b, 1e-5).backward(g);
        return new Tensor[]{x.grad(), w == null ? null : w.grad(), b.grad()};
    }

    private static void check(int rows, int d, boolean weight) {
        Generator gen = new Generator(rows * 31L + d);
        Tensor x = Tensor.randn(gen, DType.F32, rows, d).mul(3).add(5);   // an offset the mean must remove exactly
        Tensor w = weight ? Tensor.randn(gen, DType.F32, d) : null, b = Tensor.randn(gen, DType.F32, d), g = Tensor.randn(gen, DType.F32, rows, d);
        Tensor[] got = grads(x, w, b, g, d);
        double[][] want = reference(values(x), weight ? values(w) : null, values(g), rows, d, 1e-5);
        String[] names = {"dx", "dw", "db"};
        for (int k = 0; k < 3; k++) {
            if (k == 1 && !weight) continue;
            double[] have = values(got[k]);
            double scale = 0;
            for (double v : want[k]) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < have.length; i++)
                if (!(Math.abs(have[i] - want[k][i]) <= 1e-5 * scale * Math.sqrt(k == 0 ? d : rows)))
                    fail(names[k] + "[" + i + "] " + have[i] + " vs " + want[k][i] + " (" + rows + "x" + d + ", scale " + scale + ")");
        }
    }

    @Test void f32MatchesFloat64() {
        check(1, 5, true);
        check(70, 77, true);
        check(33, 512, false);
        check(1024, 512, true);
    }

    /** Softmax and log-softmax backward over the last dim (F32 kernel) against the formulas in double. */
    @Test void softmaxBackwardMatchesFloat64() {
        for (boolean log : new boolean[]{false, true}) {
            for (int[] s : new int[][]{{1, 3}, {37, 133}, {6, 2, 1031}}) {
                Generator gen = new Generator(s.length * 100L + s[s.length - 1]);
                Tensor x = Tensor.randn(gen, DType.F32, s).mul(4).detach().requiresGrad(true);
                Tensor y = log ? x.logSoftmax(-1) : x.softmax(-1);
                Tensor g = Tensor.randn(gen, DType.F32, s);
                y.backward(g);
                double[] yv = values(y.detach()), gv = values(g), dx = values(x.grad());
                int n = s[s.length - 1];
                for (int r = 0; r < yv.length / n; r++) {
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += log ? gv[r * n + j] : gv[r * n + j] * yv[r * n + j];
                    for (int j = 0; j < n; j++) {
                        int i = r * n + j;
                        double want = log ? gv[i] - Math.exp(yv[i]) * sum : yv[i] * (gv[i] - sum);
                        double tol = 1e-5 * (Math.abs(gv[i]) + Math.abs(sum) + 1e-3);
                        if (!(Math.abs(dx[i] - want) <= tol))
                            fail((log ? "log_softmax" : "softmax") + " " + java.util.Arrays.toString(s) + " dx[" + i + "] " + dx[i] + " vs " + want);
                    }
                }
            }
        }
    }

    @Test void weightAndBiasGradientsDoNotDependOnThreads() {
        Generator gen = new Generator(4);
        Tensor x = Tensor.randn(gen, DType.F32, 300, 96), w = Tensor.randn(gen, DType.F32, 96), b = Tensor.randn(gen, DType.F32, 96);
        Tensor g = Tensor.randn(gen, DType.F32, 300, 96);
        int was = CpuConfig.threads();
        try {
            CpuConfig.setThreads(1);
            Tensor[] one = grads(x, w, b, g, 96);
            CpuConfig.setThreads(Math.max(2, was));
            Tensor[] many = grads(x, w, b, g, 96);
            for (int k = 0; k < 3; k++) assertArrayEquals(values(one[k]), values(many[k]), "gradient " + k);
        } finally {
            CpuConfig.setThreads(was);
        }
    }
}
