package dev.kiln.compress.quant;

import dev.kiln.backend.cpu.CpuConfig;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * The vectorized per-tensor activation quantizer equals its scalar twin bit for bit: random values,
 * exact ties (k + 0.5 steps, rounded half to even), values far outside the range, +-0, NaN and
 * infinities, odd lengths (vector tail), several scales and zero points.
 */
class Int8WeightsQuantizeTest {

    @Test
    void vectorPathEqualsScalarTwin() {
        Random r = new Random(17);
        QParams[] params = {QParams.perTensor(0.05f, 0, -128, 127), QParams.perTensor(0.013f, -37, -128, 127),
                QParams.perTensor(1f, 3, -127, 127), QParams.perTensor(2.5e-4f, 127, -128, 127)};
        for (QParams a : params)
            for (int n : new int[]{1, 15, 16, 17, 4095, 4096, 10_001}) {
                float[] x = new float[n];
                for (int i = 0; i < n; i++)
                    x[i] = switch (i % 9) {
                        case 0 -> (r.nextInt(400) - 200 + 0.5f) * a.scale0();     // ties
                        case 1 -> (float) (r.nextGaussian() * 1e9);               // far outside
                        case 2 -> i % 2 == 0 ? Float.NaN : -0f;
                        case 3 -> i % 2 == 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
                        default -> (float) (r.nextGaussian() * 200 * a.scale0());
                    };
                byte[] want = new byte[n];
                Int8Weights.quantizeScalar(x, a, want, 0, n);
                boolean saved = CpuConfig.scalar();
                try {
                    CpuConfig.setScalar(false);
                    assertArrayEquals(want, Int8Weights.quantize(x, a), a + " n=" + n);
                    CpuConfig.setScalar(true);
                    assertArrayEquals(want, Int8Weights.quantize(x, a), a + " n=" + n + " (scalar)");
                } finally {
                    CpuConfig.setScalar(saved);
                }
            }
    }
}
