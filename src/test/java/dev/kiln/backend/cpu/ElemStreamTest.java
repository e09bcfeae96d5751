package dev.kiln.backend.cpu;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The native streaming kernels (non-temporal stores) give the same bits as the Vector API kernels
 * for add/sub/mul/div and exp, on odd lengths and offsets that are not 64-byte aligned (the kernel's
 * masked head and tail), with special values (NaN, +-inf, overflow and underflow of exp), and agree
 * with the float64 reference; 1 and 2 threads give the same bits.
 */
class ElemStreamTest {
    private final Generator g = new Generator(11);
    private long savedMin;

    @BeforeEach
    void lowerThreshold() {
        Assumptions.assumeTrue(ElemStream.available(), "native streaming kernels not available on this CPU/build");
        savedMin = ElemStream.minElements;
        ElemStream.minElements = 100;
    }

    @AfterEach
    void restore() {
        if (!ElemStream.available()) return;
        ElemStream.minElements = savedMin;
        ElemStream.setEnabled(true);
        CpuConfig.setThreads(Runtime.getRuntime().availableProcessors());
    }

    /** x with some special values sprinkled in. */
    private Tensor input(int n, float lo, float hi) {
        float[] v = Tensor.uniform(g, lo, hi, DType.F32, n).toFloatArray();
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 100f, -100f, 88.7f, -87.3f, 1e-30f};
        for (int i = 0; i < specials.length && 37 * i + 5 < n; i++) v[37 * i + 5] = specials[i];
        return Tensor.fromArray(v, n);
    }

    private static float[] both(java.util.function.Supplier<Tensor> op, boolean stream) {
        ElemStream.setEnabled(stream);
        try (Tensor t = op.get()) {
            return t.toFloatArray();
        }
    }

    @Test
    void binaryOpsBitwiseEqualToVectorKernels() {
        for (int n : new int[]{100, 1000, 4099, 70001}) {
            Tensor a = input(n + 3, -3, 3), b = input(n + 3, -3, 3);
            Tensor as = a.slice(0, 3, n + 3, 1), bs = b.slice(0, 1, n + 1, 1);   // 12- and 4-byte offsets: unaligned heads
            for (BinaryOp op : new BinaryOp[]{BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV}) {
                java.util.function.Supplier<Tensor> f = () -> {
                    Tensor out = Tensor.zeros(DType.F32, n + 5).slice(0, 5, n + 5, 1);
                    as.backend().binary(op, as, bs, out);
                    return out;
                };
                float[] s = both(f, true), v = both(f, false);
                assertArrayEquals(v, s, op + " n=" + n);
                float[] x = as.toFloatArray(), y = bs.toFloatArray();
                for (int i = 0; i < n; i++) {
                    double r = switch (op) { case ADD -> (double) x[i] + y[i]; case SUB -> (double) x[i] - y[i];
                        case MUL -> (double) x[i] * y[i]; default -> (double) x[i] / y[i]; };
                    assertEquals((float) r, s[i], 0f, op + " element " + i);
                }
            }
        }
    }

    @Test
    void expBitwiseEqualToVectorKernel() {
        for (int n : new int[]{100, 1001, 65537}) {
            Tensor x = input(n + 1, -90, 90).slice(0, 1, n + 1, 1);
            float[] s = both(() -> { Tensor o = Tensor.zeros(DType.F32, n); x.backend().unary(UnaryOp.EXP, x, o, 0, 0); return o; }, true);
            float[] v = both(() -> { Tensor o = Tensor.zeros(DType.F32, n); x.backend().unary(UnaryOp.EXP, x, o, 0, 0); return o; }, false);
            assertArrayEquals(v, s, "exp n=" + n);
            float[] xv = x.toFloatArray();
            for (int i = 0; i < n; i++) {
                double r = Math.exp(xv[i]);
                if (Float.isNaN(xv[i])) assertEquals(Float.NaN, s[i], "exp(NaN)");
                else if (r < 2e-38) assertEquals(0f, s[i], 2e-38f, "exp underflow at " + xv[i]);
                else if (r > Float.MAX_VALUE) assertEquals(Float.POSITIVE_INFINITY, s[i], "exp overflow at " + xv[i]);
                else assertEquals(r, s[i], 2e-7 * r, "exp(" + xv[i] + ")");
            }
        }
    }

    @Test
    void softmaxRowsBitwiseEqualToVectorKernel() {
        for (int d : new int[]{16, 48, 1024, 4096}) {
            int rows = 37;
            Tensor x = input(rows * d, -30, 30).view(rows, d);
            java.util.function.Supplier<Tensor> f = () -> {
                Tensor o = Tensor.zeros(DType.F32, rows, d);
                x.backend().softmax(x, 1, false, o);
                return o;
            };
            float[] s = both(f, true), v = both(f, false);
            assertArrayEquals(v, s, "softmax d=" + d);
        }
    }

    @Test
    void stripedSumBitwiseEqualToVectorKernel() {
        for (int n : new int[]{ReduceRowF32.STRIPED_MIN, 70_001, 1_000_003}) {
            Tensor x = input(n + 3, -3, 3).slice(0, 3, n + 3, 1);     // a 12-byte offset
            float[] xs = x.toFloatArray();
            boolean hasNan = false;
            for (float v : xs) hasNan |= Float.isNaN(v);
            Tensor clean = hasNan ? Tensor.uniform(g, -3, 3, DType.F32, n + 3).slice(0, 3, n + 3, 1) : x;
            float[] s = both(clean::sum, true), v = both(clean::sum, false);
            assertArrayEquals(v, s, "sum n=" + n);
            double ref = 0;
            for (float f : clean.toFloatArray()) ref += f;
            assertEquals(ref, s[0], 1e-6 * n, "sum n=" + n + " against float64");
            assertEquals(Float.NaN, both(x::sum, true)[0], "a NaN in the row makes the sum NaN");
        }
    }

    @Test
    void threadsGiveTheSameBits() {
        Tensor a = input(300_001, -2, 2), b = input(300_001, -2, 2);
        CpuConfig.setThreads(1);
        float[] one = both(() -> a.mul(b), true);
        CpuConfig.setThreads(2);
        assertArrayEquals(one, both(() -> a.mul(b), true));
    }
}
