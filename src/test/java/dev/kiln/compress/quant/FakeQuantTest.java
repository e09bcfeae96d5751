package dev.kiln.compress.quant;

import dev.kiln.autograd.GradCheck;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Fake quantization forward values and its straight-through gradient. */
class FakeQuantTest {

    @Test
    void forwardIsQuantizeDequantize() {
        QParams q = QParams.fromRange(-1, 1, true);
        Tensor x = Tensor.fromArray(new float[]{0.3f, -0.77f, 2f}, 3);
        float[] y = FakeQuant.apply(x, q).toFloatArray();
        float[] ref = q.dequantize(q.quantize(x)).toFloatArray();
        assertArrayEquals(ref, y, 0f);
    }

    @Test
    void steGradientIsMaskOfClippingRange() {
        QParams q = QParams.perTensor(0.1f, 0, -127, 127); // range [-12.7, 12.7]
        Tensor x = Tensor.fromArray(new float[]{0.5f, 12f, 13f, -20f, -12.6f}, 5);
        x.requiresGrad(true);
        FakeQuant.apply(x, q).sum().backward();
        assertArrayEquals(new float[]{1, 1, 0, 0, 1}, x.grad().toFloatArray(), 0f);
    }

    @Test
    void finiteDifferencesOfSmoothedLossAwayFromBoundaries() {
        // L = sum((fq(x) + x) * g): d/dx = g (STE) + g; a finite difference of size h << scale at
        // points away from rounding boundaries sees only the "+ x" term, so compare the STE part
        // analytically and the rest with GradCheck on the non-quantized branch.
        QParams q = QParams.perTensor(0.25f, 0, -127, 127);
        Tensor x = Tensor.fromDoubles(DType.F64, new double[]{0.1, 0.6, -1.1, 40.0}, 4);
        GradCheck.check("fake_quant + x (clip region)", in -> FakeQuant.apply(in[0], q).mul(0.0).add(in[0].mul(2.0)), x);
        x.zeroGrad();
        x.requiresGrad(true);
        FakeQuant.apply(x, q).mul(3.0).sum().backward();
        assertArrayEquals(new double[]{3, 3, 3, 0}, x.grad().toDoubleArray(), 0);
        assertEquals(DType.F64, FakeQuant.apply(x, q).dtype());
    }

    @Test
    void steEqualsFiniteDifferenceOfTheClippingFunction() {
        // The STE treats fq(x) as clamp(x, lo, hi): its gradient must match that function's
        // central finite difference at points away from the clipping edges.
        QParams q = QParams.fromRange(-0.8, 1.7, false);
        double lo = q.scale0() * (q.qmin() - q.zero0()), hi = q.scale0() * (q.qmax() - q.zero0());
        double[] xs = {-3, -0.79, -0.2, 0, 0.33, 1.0, 1.69, 2.5, 9};
        Tensor x = Tensor.fromDoubles(DType.F64, xs, xs.length);
        x.requiresGrad(true);
        FakeQuant.apply(x, q).sum().backward();
        double[] g = x.grad().toDoubleArray(), h = {1e-6};
        for (int i = 0; i < xs.length; i++) {
            double num = (Math.clamp(xs[i] + h[0], lo, hi) - Math.clamp(xs[i] - h[0], lo, hi)) / (2 * h[0]);
            assertEquals(num, g[i], 1e-6, "x = " + xs[i]);
        }
    }

    @Test
    void perChannelMask() {
        QParams q = QParams.fromRanges(new double[]{-1, -10}, new double[]{1, 10}, true, 0);
        Tensor w = Tensor.fromArray(new float[]{0.5f, 5f, 0.5f, 5f}, 2, 2);
        w.requiresGrad(true);
        FakeQuant.apply(w, q).sum().backward();
        assertArrayEquals(new float[]{1, 0, 1, 1}, w.grad().toFloatArray(), 0f);
    }
}
