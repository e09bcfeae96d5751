package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.kiln.onnx.ops.NormTestKit.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** ai.onnx.preview.training Adagrad, Adam and Momentum vs their update formulas. */
class TrainingOpsTest {
    private static final String D = TrainingOps.DOMAIN;
    private static final double R = 0.1;

    private static NormTestKit.Node train(String op) {
        return op(op).domain(D).opset(1);
    }

    @Test
    void adagradUpdatesTwoTensors() {
        double[] x1 = {1}, x2 = {1, 2}, g1 = {-1}, g2 = {-1, -3}, h1 = {2}, h2 = {4, 1};
        List<Value> out = train("Adagrad").f("decay_factor", 0.1).f("epsilon", 1e-5).f("norm_coefficient", 0.001).outputs(4)
                .in(scalar(R, ElemType.FLOAT), scalar(3, ElemType.INT64), f32(x1, 1), f32(x2, 2), f32(g1, 1), f32(g2, 2),
                        f32(h1, 1), f32(h2, 2)).run();
        assertEquals(4, out.size());
        double r = R / (1 + 3 * 0.1);
        for (int k = 0; k < 2; k++) {
            double[] x = k == 0 ? x1 : x2, g = k == 0 ? g1 : g2, h = k == 0 ? h1 : h2;
            double[] xn = new double[x.length], hn = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                double gr = 0.001 * x[i] + g[i];
                hn[i] = h[i] + gr * gr;
                xn[i] = x[i] - r * gr / (Math.sqrt(hn[i]) + 1e-5);
            }
            assertClose(xn, out.get(k).tensor(), 1e-6);
            assertClose(hn, out.get(2 + k).tensor(), 1e-6);
        }
    }

    @Test
    void adamWithBiasCorrection() {
        double[] x = {1.2, 2.8}, g = {-0.94, -2.5}, v = {1.7, 3.6}, h = {0.1, 0.1};
        double alpha = 0.95, beta = 0.1, eps = 1e-7, norm = 0.001;
        List<Value> out = train("Adam").f("alpha", alpha).f("beta", beta).f("epsilon", eps).f("norm_coefficient", norm)
                .outputs(3).in(scalar(R, ElemType.FLOAT), scalar(2, ElemType.INT64), f32(x, 2), f32(g, 2), f32(v, 2), f32(h, 2)).run();
        alpha = (float) alpha;
        beta = (float) beta;
        double[] xn = new double[2], vn = new double[2], hn = new double[2];
        double r = R * Math.sqrt(1 - beta * beta) / (1 - alpha * alpha);
        for (int i = 0; i < 2; i++) {
            double gr = norm * x[i] + g[i];
            vn[i] = alpha * v[i] + (1 - alpha) * gr;
            hn[i] = beta * h[i] + (1 - beta) * gr * gr;
            xn[i] = x[i] - r * vn[i] / (Math.sqrt(hn[i]) + eps);
        }
        assertClose(xn, out.get(0).tensor(), 1e-5);
        assertClose(vn, out.get(1).tensor(), 1e-5);
        assertClose(hn, out.get(2).tensor(), 1e-5);
    }

    @Test
    void momentumStandardAndNesterov() {
        double[] x = {1.2, 2.8}, g = {-0.94, -2.5}, v = {1.7, 3.6};
        for (String mode : new String[]{"standard", "nesterov"}) {
            List<Value> out = train("Momentum").f("alpha", 0.5).f("beta", 0.25).f("norm_coefficient", 0.01).s("mode", mode)
                    .outputs(2).in(scalar(R, ElemType.FLOAT), scalar(1, ElemType.INT64), f32(x, 2), f32(g, 2), f32(v, 2)).run();
            double[] xn = new double[2], vn = new double[2];
            for (int i = 0; i < 2; i++) {
                double gr = 0.01 * x[i] + g[i];
                vn[i] = 0.5 * v[i] + 0.25 * gr;
                xn[i] = mode.equals("standard") ? x[i] - R * vn[i] : x[i] - R * (gr + 0.5 * vn[i]);
            }
            assertClose(xn, out.get(0).tensor(), 1e-6);
            assertClose(vn, out.get(1).tensor(), 1e-6);
        }
    }
}
