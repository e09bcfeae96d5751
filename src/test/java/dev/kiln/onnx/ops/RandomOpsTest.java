package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static dev.kiln.onnx.ops.NormTestKit.assertClose;
import static dev.kiln.onnx.ops.NormTestKit.assertShape;
import static dev.kiln.onnx.ops.NormTestKit.f32;
import static dev.kiln.onnx.ops.NormTestKit.op;
import static dev.kiln.onnx.ops.NormTestKit.typed;
import static org.junit.jupiter.api.Assertions.*;

/** The random ops: NumPy-compatible seeded streams, determinism under a seed, shapes, types and ranges. */
class RandomOpsTest {
    @Test
    void mersenneTwisterMatchesNumpyUniformAndNormal() {
        MersenneTwister zero = new MersenneTwister(0);
        assertEquals(0.5488135039273248, zero.nextDouble(), 1e-15); // np.random.seed(0); np.random.uniform()
        MersenneTwister g = new MersenneTwister(0);
        assertEquals(1.764052345967664, g.nextGaussian(), 1e-12); // np.random.seed(0); np.random.standard_normal(3)
        assertEquals(0.4001572083672233, g.nextGaussian(), 1e-12);
        assertEquals(0.9787379841057392, g.nextGaussian(), 1e-12);
    }

    @Test
    void seededRandomUniformAndNormalReproduceNumpy() {
        Tensor u = op("RandomUniform").f("seed", 0).ints("shape", 3).run(0).tensor();
        assertClose(new double[]{0.5488135, 0.71518937, 0.60276338}, u, 1e-6);
        Tensor n = op("RandomNormal").f("seed", 3).f("mean", 1).f("scale", 2).ints("shape", 1, 2).run(0).tensor();
        assertArrayEquals(new int[]{1, 2}, n.shape());
        assertClose(new double[]{4.57725695, 1.8730197}, n, 1e-6); // np.random.seed(3); np.random.normal(1, 2, 2)
        Value like = op("RandomUniformLike").f("seed", 3).f("low", -1).f("high", 1).i("dtype", 11)
                .in(f32(new double[]{0, 0}, 2)).run(0);
        assertShape(like, ElemType.DOUBLE, 2);
        assertClose(new double[]{0.10159581, 0.41629565}, like.tensor(), 1e-7); // np.random.seed(3); uniform(-1, 1, 2)
    }

    @Test
    void aSeedGivesTheSameValuesOnEveryRun() {
        for (String opName : new String[]{"RandomUniformLike", "RandomNormalLike", "Bernoulli"}) {
            Value x = f32(new double[]{0.1, 0.5, 0.9, 0.3, 0.7, 0.2}, 2, 3);
            double[] a = op(opName).f("seed", 42).in(x).run(0).tensor().toDoubleArray();
            double[] b = op(opName).f("seed", 42).in(x).run(0).tensor().toDoubleArray();
            double[] c = op(opName).f("seed", 43).in(x).run(0).tensor().toDoubleArray();
            assertArrayEquals(a, b, opName);
            if (!opName.equals("Bernoulli")) assertFalse(java.util.Arrays.equals(a, c), opName);
        }
        long[] m1 = op("Multinomial").f("seed", 5).i("sample_size", 20).in(f32(new double[]{0, 1, 2}, 1, 3)).run(0).tensor().toLongArray();
        long[] m2 = op("Multinomial").f("seed", 5).i("sample_size", 20).in(f32(new double[]{0, 1, 2}, 1, 3)).run(0).tensor().toLongArray();
        assertArrayEquals(m1, m2);
    }

    @Test
    void unseededDrawsStayInRangeWithTheRightShapeAndType() {
        Value u = op("RandomUniform").f("low", 2).f("high", 3).i("dtype", 10).ints("shape", 4, 5).run(0);
        assertShape(u, ElemType.FLOAT16, 4, 5);
        for (double v : u.tensor().toDoubleArray()) assertTrue(v >= 2 && v <= 3, "value " + v);
        Value n = op("RandomNormalLike").in(typed(ElemType.DOUBLE, new double[6], 3, 2)).run(0);
        assertShape(n, ElemType.DOUBLE, 3, 2);
        assertThrows(OnnxException.class, () -> op("RandomNormalLike").in(typed(ElemType.INT64, new double[2], 2)).run());
        assertThrows(OnnxException.class, () -> op("RandomUniform").run()); // no shape
    }

    @Test
    void bernoulliDrawsOneWithProbabilityP() {
        Value y = op("Bernoulli").f("seed", 0).in(f32(new double[]{0.6, 0.6, 0.6}, 3)).run(0);
        assertClose(new double[]{1, 0, 0}, y.tensor(), 0); // uniforms 0.549, 0.715, 0.603 against 0.6
        Value ones = op("Bernoulli").i("dtype", 9).in(typed(ElemType.DOUBLE, new double[]{1, 1, 0, 0}, 2, 2)).run(0);
        assertShape(ones, ElemType.BOOL, 2, 2);
        assertArrayEquals(new long[]{1, 1, 0, 0}, ones.tensor().toLongArray());
        double[] p = new double[4000];
        java.util.Arrays.fill(p, 0.25);
        double mean = java.util.Arrays.stream(op("Bernoulli").f("seed", 1).in(f32(p, 4000)).run(0).tensor().toDoubleArray())
                .average().orElse(0);
        assertEquals(0.25, mean, 0.03);
    }

    @Test
    void multinomialSamplesTheSoftmax() {
        double ninf = Double.NEGATIVE_INFINITY;
        Value y = op("Multinomial").f("seed", 2).i("sample_size", 3000).i("dtype", 7)
                .in(f32(new double[]{0, Math.log(3), ninf, ninf, ninf, 0}, 2, 3)).run(0);
        assertShape(y, ElemType.INT64, 2, 3000);
        long[] v = y.tensor().toLongArray();
        int ones = 0;
        for (int i = 0; i < 3000; i++) {
            assertTrue(v[i] == 0 || v[i] == 1, "class -inf drawn");
            if (v[i] == 1) ones++;
            assertEquals(2, v[3000 + i]);
        }
        assertEquals(0.75, ones / 3000.0, 0.03);
        assertShape(op("Multinomial").in(f32(new double[]{0, 0}, 1, 2)).run(0), ElemType.INT32, 1, 1);
        assertThrows(OnnxException.class, () -> op("Multinomial").in(f32(new double[]{0, 0}, 2)).run());
    }
}
