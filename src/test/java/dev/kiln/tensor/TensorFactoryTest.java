package dev.kiln.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Factories: constant fills, arange, seeded random tensors (reproducibility and distribution), fromArray. */
class TensorFactoryTest {
    @Test
    void zerosOnesFullInEveryDtype() {
        for (DType t : DType.values()) {
            try (Tensor z = Tensor.zeros(t, 2, 3); Tensor o = Tensor.ones(t, 4); Tensor f = Tensor.full(-2, t, 3, 1)) {
                assertEquals(t, z.dtype());
                assertArrayEquals(new int[]{2, 3}, z.shape());
                assertTrue(z.isContiguous());
                for (long i = 0; i < 6; i++) assertEquals(0.0, z.getFlat(i));
                for (long i = 0; i < 4; i++) assertEquals(1.0, o.getFlat(i));
                double want = t == DType.BOOL ? 1 : -2;
                for (long i = 0; i < 3; i++) assertEquals(want, f.getFlat(i), t.toString());
            }
        }
        try (Tensor d = Tensor.zeros(2); Tensor s = Tensor.scalar(1.5); Tensor e = Tensor.zeros(DType.I64, 0, 4)) {
            assertEquals(DType.F32, d.dtype());
            assertEquals(0, s.dim());
            assertEquals(1.5, s.item());
            assertEquals(0, e.numel());
        }
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(2, -1));
    }

    @Test
    void fullKeepsSpecialValues() {
        try (Tensor nz = Tensor.full(-0.0, DType.F32, 3); Tensor nan = Tensor.full(Double.NaN, DType.F64, 2);
             Tensor inf = Tensor.full(Double.NEGATIVE_INFINITY, DType.BF16, 2)) {
            for (long i = 0; i < 3; i++)
                assertEquals(Double.doubleToRawLongBits(-0.0), Double.doubleToRawLongBits(nz.getFlat(i)), "full(-0.0) must store -0.0");
            assertTrue(Double.isNaN(nan.getFlat(1)));
            assertEquals(Double.NEGATIVE_INFINITY, inf.getFlat(1));
        }
    }

    @Test
    void arangeLikeNumpy() {
        try (Tensor a = Tensor.arange(0, 10, 3, DType.I32); Tensor b = Tensor.arange(5, 0, -2, DType.F64);
             Tensor c = Tensor.arange(0, 1, 0.1, DType.F64); Tensor d = Tensor.arange(3, 3, 1, DType.F32);
             Tensor e = Tensor.arange(4); Tensor big = Tensor.arange(1L << 40, (1L << 40) + 3, 1, DType.I64)) {
            assertArrayEquals(new int[]{0, 3, 6, 9}, a.toIntArray());
            assertArrayEquals(new double[]{5, 3, 1}, b.toDoubleArray());
            assertEquals(10, c.numel());
            assertEquals(0.9, c.getDouble(9), 1e-15);
            assertEquals(0, d.numel());
            assertEquals(DType.F32, e.dtype());
            assertArrayEquals(new float[]{0, 1, 2, 3}, e.toFloatArray());
            assertArrayEquals(new long[]{1L << 40, (1L << 40) + 1, (1L << 40) + 2}, big.toLongArray());
        }
        assertThrows(IllegalArgumentException.class, () -> Tensor.arange(0, 1, 0, DType.F32));
        try (Tensor empty = Tensor.arange(0, 5, -1, DType.F32)) { assertEquals(0, empty.numel()); }
    }

    @Test
    void seededRandomIsReproducible() {
        try (Tensor a = Tensor.rand(new Generator(42), 100); Tensor b = Tensor.rand(new Generator(42), 100);
             Tensor c = Tensor.rand(new Generator(43), 100); Tensor n1 = Tensor.randn(new Generator(7), DType.F64, 5, 5);
             Tensor n2 = Tensor.randn(new Generator(7), DType.F64, 5, 5)) {
            assertArrayEquals(a.toFloatArray(), b.toFloatArray());
            assertFalse(java.util.Arrays.equals(a.toFloatArray(), c.toFloatArray()));
            assertArrayEquals(n1.toDoubleArray(), n2.toDoubleArray());
        }
        Generator g = new Generator(1);
        double first = g.nextNormal(), second = g.nextNormal();
        g.manualSeed(1);
        assertEquals(first, g.nextNormal(), "manualSeed must also drop the cached Box-Muller value");
        assertEquals(second, g.nextNormal());
        Generator global = Generator.global();
        global.manualSeed(5);
        double u = global.nextUniform();
        global.manualSeed(5);
        assertEquals(u, Generator.global().nextUniform());
    }

    @Test
    void uniformStatistics() {
        int n = 100_000;
        try (Tensor x = Tensor.rand(new Generator(3), DType.F64, n)) {
            double[] v = x.toDoubleArray();
            double mean = 0, m2 = 0, lo = 1, hi = 0;
            for (double d : v) { mean += d; lo = Math.min(lo, d); hi = Math.max(hi, d); }
            mean /= n;
            for (double d : v) m2 += (d - mean) * (d - mean);
            assertEquals(0.5, mean, 0.005);          // ~5 standard errors
            assertEquals(1.0 / 12, m2 / n, 0.002);
            assertTrue(lo >= 0 && lo < 0.001 && hi < 1 && hi > 0.999);
        }
        try (Tensor u = Tensor.uniform(new Generator(4), -2, 2, DType.F32, 10_000)) {
            for (float f : u.toFloatArray()) assertTrue(f >= -2 && f < 2);
        }
    }

    @Test
    void randStaysBelowOneInEveryFloatType() {
        // rounding a double just below 1 to bf16 / f16 / f32 must not produce 1.0
        for (DType t : new DType[]{DType.BF16, DType.F16, DType.F32, DType.F64}) {
            try (Tensor x = Tensor.rand(new Generator(11), t, 200_000)) {
                double max = 0, sum = 0;
                for (long i = 0; i < x.numel(); i++) { max = Math.max(max, x.getFlat(i)); sum += x.getFlat(i); }
                assertTrue(max < 1.0, t + ": rand produced " + max);
                assertEquals(0.5, sum / x.numel(), 0.01, t + " mean");
            }
        }
    }

    @Test
    void normalStatistics() {
        int n = 100_000;
        try (Tensor x = Tensor.randn(new Generator(9), DType.F64, n)) {
            double[] v = x.toDoubleArray();
            double mean = 0, m2 = 0;
            int within1 = 0, within2 = 0;
            for (double d : v) { mean += d; if (Math.abs(d) < 1) within1++; if (Math.abs(d) < 2) within2++; }
            mean /= n;
            for (double d : v) m2 += (d - mean) * (d - mean);
            assertEquals(0, mean, 0.02);
            assertEquals(1, Math.sqrt(m2 / n), 0.02);
            assertEquals(0.6827, within1 / (double) n, 0.01);
            assertEquals(0.9545, within2 / (double) n, 0.006);
        }
    }

    @Test
    void fromArrayShapesAndErrors() {
        try (Tensor a = Tensor.fromArray(new float[]{1, 2, 3, 4, 5, 6}, 2, 3); Tensor b = Tensor.fromArray(new double[]{1, 2, 3});
             Tensor c = Tensor.fromArray(new int[]{7}); Tensor d = Tensor.fromArray(new long[]{Long.MAX_VALUE, -1}, 2, 1);
             Tensor e = Tensor.fromDoubles(DType.BF16, new double[]{1.5, -2}, 1, 2)) {
            assertEquals(DType.F32, a.dtype());
            assertEquals(6.0, a.getDouble(1, 2));
            assertArrayEquals(new int[]{3}, b.shape(), "no shape given: 1-d");
            assertEquals(0, c.dim(), "one value and no shape: 0-d");
            assertEquals(DType.I32, c.dtype());
            assertEquals(Long.MAX_VALUE, d.getLong(0, 0));
            assertEquals(-2.0, e.getDouble(0, 1));
        }
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> Tensor.fromArray(new float[5], 2, 3));
        assertTrue(ex.getMessage().contains("5 values") && ex.getMessage().contains("[2, 3]"), ex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.fromArray(new double[6], -2, -3));
        assertThrows(IllegalArgumentException.class, () -> Tensor.fromDoubles(DType.I8, new double[3], 2));
    }
}
