package dev.kiln.ops;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fused dropout against the formula it replaced (rand >= p as the mask, x * mask * 1/(1-p)):
 * the same values bit for bit, the same generator state afterwards, and the same gradient, for
 * F32 and F64, odd sizes, strided input, the scalar path and the host-mask path.
 */
class DropoutTest {
    private static final double[] PS = {0.1, 0.5, 1.0 / 3, 0.9, 0.0001, 0.77777, 0.2000000029802322};

    /** The old composite: forward value and gradient for upstream gradient gy. */
    private static Tensor[] reference(Tensor x, Tensor gy, double p, Generator g) {
        Tensor xs = x.detach().requiresGrad(true);
        Tensor keep = Tensor.rand(g, x.dtype() == DType.F64 ? DType.F64 : DType.F32, x.shape()).ge(Tensor.scalar(p));
        Tensor y = xs.mul(keep).mul(1.0 / (1 - p));
        y.backward(gy);
        return new Tensor[]{y, xs.grad()};
    }

    private static Tensor[] fused(Tensor x, Tensor gy, double p, Generator g, boolean kernel) {
        Tensor xs = x.detach().requiresGrad(true);
        Tensor y = Dropout.apply(xs, p, g, kernel);
        y.backward(gy);
        return new Tensor[]{y, xs.grad()};
    }

    private static void check(DType t, int[] shape, boolean transpose, boolean kernel) {
        for (double p : PS) {
            Generator data = new Generator(11);
            Tensor x = Tensor.randn(data, t, shape);
            // an exact zero, a negative zero, an infinity and a NaN ride along
            x.storage().setDouble(t, 0, 0.0);
            x.storage().setDouble(t, 1, -0.0);
            x.storage().setDouble(t, 2, Double.POSITIVE_INFINITY);
            x.storage().setDouble(t, 3, Double.NaN);
            if (transpose) x = x.transpose(0, 1);
            Tensor gy = Tensor.randn(data, t, x.shape());
            Generator a = new Generator(5), b = new Generator(5);
            Tensor[] want = reference(x, gy, p, a), got = fused(x, gy, p, b, kernel);
            String what = t + " " + java.util.Arrays.toString(shape) + (transpose ? " transposed" : "") + " p=" + p;
            assertBitEqual(want[0], got[0], what + " forward");
            assertBitEqual(want[1], got[1], what + " backward");
            assertEquals(a.nextUniform(), b.nextUniform(), what + ": generator state after");
        }
    }

    private static void assertBitEqual(Tensor want, Tensor got, String what) {
        assertArrayEquals(want.shape(), got.shape(), what);
        Tensor w = want.contiguous(), g = got.contiguous();
        for (long i = 0; i < w.numel(); i++) {
            long wb = Double.doubleToRawLongBits(w.storage().getDouble(w.dtype(), w.offset() + i));
            long gb = Double.doubleToRawLongBits(g.storage().getDouble(g.dtype(), g.offset() + i));
            if (wb != gb) fail(what + ": element " + i + " is " + g.storage().getDouble(g.dtype(), g.offset() + i)
                    + ", the formula gives " + w.storage().getDouble(w.dtype(), w.offset() + i));
        }
    }

    @Test void f32MatchesTheFormulaBitForBit() {
        check(DType.F32, new int[]{37, 129}, false, true);
        check(DType.F32, new int[]{3, 5}, false, true);
        check(DType.F32, new int[]{64, 1031}, true, true);
    }

    @Test void f64MatchesTheFormulaBitForBit() {
        check(DType.F64, new int[]{37, 129}, false, true);
        check(DType.F64, new int[]{40, 77}, true, true);
    }

    @Test void scalarPathAndHostMaskMatchToo() {
        check(DType.F32, new int[]{9, 301}, false, false);
        check(DType.F64, new int[]{9, 301}, false, false);
        boolean was = CpuConfig.scalar();
        CpuConfig.setScalar(true);
        try {
            check(DType.F32, new int[]{9, 301}, false, true);
            check(DType.F64, new int[]{9, 301}, true, true);
        } finally {
            CpuConfig.setScalar(was);
        }
    }

    /** The threshold is where rand's value u = k / 2^bits starts to compare >= p, for p between grid points too. */
    @Test void thresholdIsWhereTheComparisonFlips() {
        double[] ps = {0.1, 1.0 / 3, 0.5 + 0x1p-25, 0.5 + 0x1p-26, 0.5 - 0x1p-26, 0.75 + 0x1p-54, 0.9, 0x1p-30};
        for (double p : ps) {
            for (boolean f64 : new boolean[]{false, true}) {
                DType t = f64 ? DType.F64 : DType.F32;
                double grid = f64 ? 0x1p53 : 0x1p24;
                long thr = Dropout.threshold(f64, p);
                for (long k = thr - 2; k <= thr + 2; k++) {
                    boolean ge = Tensor.scalar(k / grid, t).reshape(1).ge(Tensor.scalar(p)).to(DType.F64).item() != 0;
                    assertEquals(k >= thr, ge, t + " p=" + p + " k=" + k);
                }
            }
        }
    }

    @Test void keepsAboutOneMinusPAndScales() {
        Tensor x = Tensor.ones(DType.F32, 1000, 1000);
        Tensor y = Dropout.apply(x, 0.25, new Generator(3));
        double kept = y.gt(Tensor.scalar(0)).to(DType.F64).sum().item();
        assertEquals(750_000, kept, 2_000, "kept count");
        assertEquals(1_000_000, y.sum().item(), 3_000, "sum (kept elements are 4/3)");
    }

    @Test void rejectsProbabilitiesOutsideTheOpenInterval() {
        Tensor x = Tensor.ones(DType.F32, 4);
        var e = assertThrows(IllegalArgumentException.class, () -> Dropout.apply(x, 1.0, new Generator(1)));
        assertTrue(e.getMessage().startsWith("dropout: p must be in (0, 1)"), e.getMessage());
    }
}
