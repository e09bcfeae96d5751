package dev.kiln.backend.cpu;

import dev.kiln.backend.GemmEpilogue;
import dev.kiln.ops.MatMul;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GEMM epilogue (c = act(c + bias), {@link GemmEpilogue}) and {@link MatMul#linear} against a
 * float64 reference: odd shapes, M = 1 (the matrix-vector path), constant weights (the pre-packed
 * path, which applies the epilogue per task on the last K block: K over two blocks included) and
 * per-call packing, 1 and 2 threads, the scalar path, every activation the ONNX fusion uses, and
 * rank-3 inputs. Bias + ReLU is also bitwise equal to the separate ops.
 */
class GemmEpilogueTest {
    private final Generator g = new Generator(11);

    @AfterEach
    void restore() {
        CpuConfig.setScalar(false);
        CpuConfig.setThreads(Runtime.getRuntime().availableProcessors());
    }

    private static double act(UnaryOp op, double x) {
        if (op == null) return x;
        return switch (op) {
            case RELU -> Math.max(x, 0);
            case GELU -> 0.5 * x * (1 + dev.kiln.ops.ScalarMath.erf(x / Math.sqrt(2)));
            case GELU_TANH -> 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
            default -> throw new IllegalArgumentException(op.toString());
        };
    }

    /** act(a @ w + bias) in double for a [rows, k] (row-major flat), w [k, n]. */
    private static double[] reference(double[] a, double[] w, double[] bias, UnaryOp op, int rows, int k, int n) {
        double[] out = new double[rows * n];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < n; j++) {
                double s = bias == null ? 0 : bias[j];
                for (int p = 0; p < k; p++) s += a[i * k + p] * w[p * n + j];
                out[i * n + j] = act(op, s);
            }
        return out;
    }

    private static double[] absReference(double[] a, double[] w, int rows, int k, int n) {
        double[] out = new double[rows * n];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < n; j++) {
                double s = 1;
                for (int p = 0; p < k; p++) s += Math.abs(a[i * k + p] * w[p * n + j]);
                out[i * n + j] = s;
            }
        return out;
    }

    private static Tensor constant(Tensor t) {
        Tensor c = t.contiguous();
        c.storage().seal();
        return c;
    }

    @Test
    void linearMatchesReferenceOnEveryPath() {
        long saved = CpuGemm.parallelMinFmas;
        CpuGemm.parallelMinFmas = 0;
        try {
            int[][] shapes = {{1, 70, 33}, {1, 300, 2050}, {5, 7, 3}, {8, 64, 100}, {37, 45, 65}, {130, 1100, 70}, {64, 33, 257}};
            for (int[] s : shapes) {
                int m = s[0], k = s[1], n = s[2];
                Tensor a = Tensor.uniform(g, -2, 2, DType.F32, m, k), w0 = Tensor.uniform(g, -1, 1, DType.F32, k, n);
                Tensor bias = Tensor.uniform(g, -1, 1, DType.F32, n);
                double[] ad = a.toDoubleArray(), wd = w0.toDoubleArray(), bd = bias.toDoubleArray(), mag = absReference(ad, wd, m, k, n);
                for (boolean sealed : new boolean[]{false, true}) {
                    Tensor w = sealed ? constant(w0) : w0;
                    for (UnaryOp op : new UnaryOp[]{null, UnaryOp.RELU, UnaryOp.GELU, UnaryOp.GELU_TANH}) {
                        for (boolean withBias : new boolean[]{true, false}) {
                            if (!withBias && op == null) continue;
                            double[] want = reference(ad, wd, withBias ? bd : null, op, m, k, n);
                            for (int threads : new int[]{1, 2}) {
                                for (boolean scalar : new boolean[]{false, true}) {
                                    if (scalar && (m * k * n > 200_000)) continue;
                                    CpuConfig.setThreads(threads);
                                    CpuConfig.setScalar(scalar);
                                    String what = "m=" + m + " k=" + k + " n=" + n + " sealed=" + sealed + " act=" + op + " bias=" + withBias
                                            + " threads=" + threads + " scalar=" + scalar;
                                    try (Tensor y = MatMul.linear(a, w, withBias ? bias : null, op)) {
                                        assertArrayEquals(new int[]{m, n}, y.shape(), what);
                                        float[] got = y.toFloatArray();
                                        for (int i = 0; i < got.length; i++)
                                            assertEquals(want[i], got[i], 2e-6 * mag[i] + 1e-6, what + " [" + i + "]");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } finally {
            CpuGemm.parallelMinFmas = saved;
        }
    }

    /** Bias + ReLU through the epilogue is bit for bit the GEMM, then the Add, then the Relu (the same roundings). */
    @Test
    void biasReluEqualsTheSeparateOpsBitwise() {
        for (int[] s : new int[][]{{1, 768, 300}, {16, 200, 96}, {128, 1030, 77}}) {
            Tensor a = Tensor.uniform(g, -2, 2, DType.F32, 2, s[0], s[1]);    // rank 3: [2, m, k] rows stacked
            Tensor w = constant(Tensor.uniform(g, -1, 1, DType.F32, s[1], s[2]));
            Tensor bias = Tensor.uniform(g, -1, 1, DType.F32, s[2]);
            for (int threads : new int[]{1, 2}) {
                CpuConfig.setThreads(threads);
                try (Tensor mm = MatMul.matmul(a, w); Tensor sum = mm.add(bias); Tensor want = sum.relu();
                     Tensor got = MatMul.linear(a, w, bias, UnaryOp.RELU)) {
                    assertArrayEquals(want.shape(), got.shape());
                    assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "m=" + s[0] + " threads=" + threads);
                }
            }
        }
    }

    /**
     * A Linear layer and its skip connection, {@code act(a @ w + bias) + residual}: bit-equal to the separate ops on
     * the packed (constant weight) and unpacked routes, 1 and 2 threads, with and without bias and ReLU, a
     * non-contiguous residual and a broadcast one (run as a separate add).
     */
    @Test
    void residualEqualsTheSeparateOpsBitwise() {
        for (int[] s : new int[][]{{1, 768, 300}, {16, 200, 96}, {128, 1030, 77}}) {
            Tensor a = Tensor.uniform(g, -2, 2, DType.F32, 2, s[0], s[1]);
            Tensor wPlain = Tensor.uniform(g, -1, 1, DType.F32, s[1], s[2]), wConst = constant(wPlain.clone());
            Tensor bias = Tensor.uniform(g, -1, 1, DType.F32, s[2]);
            Tensor res = Tensor.uniform(g, -1, 1, DType.F32, 2, s[0], s[2]);
            Tensor resT = Tensor.uniform(g, -1, 1, DType.F32, 2, s[2], s[0]).transpose(1, 2);   // non-contiguous
            for (Tensor w : new Tensor[]{wPlain, wConst})
                for (int threads : new int[]{1, 2})
                    for (int v = 0; v < 4; v++) {
                        CpuConfig.setThreads(threads);
                        Tensor b = (v & 1) == 0 ? bias : null, r = v < 2 ? res : resT;
                        UnaryOp act = (v & 2) == 0 ? null : UnaryOp.RELU;
                        try (Tensor mm = MatMul.matmul(a, w); Tensor sum = b == null ? mm.add(0.0) : mm.add(b);
                             Tensor actd = act == null ? sum.add(0.0) : sum.relu(); Tensor want = (act == null && b == null ? mm : act == null ? sum : actd).add(r);
                             Tensor got = MatMul.linear(a, w, b, act, false, r)) {
                            assertArrayEquals(want.shape(), got.shape());
                            assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "m=" + s[0] + " threads=" + threads + " variant " + v);
                        }
                    }
            try (Tensor row = Tensor.uniform(g, -1, 1, DType.F32, s[2]); Tensor mm = MatMul.matmul(a, wConst); Tensor sum = mm.add(bias);
                 Tensor want = sum.add(row); Tensor got = MatMul.linear(a, wConst, bias, null, false, row)) {
                assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "broadcast residual");
            }
        }
    }

    /** MatMul.gemm with an epilogue: transposed operands, beta != 0 (c read, then the bias), F64 through the separate ops. */
    @Test
    void gemmEpilogueWithBetaTransposesAndF64() {
        for (DType dt : new DType[]{DType.F32, DType.F64}) {
            int m = 19, k = 41, n = 35;
            Tensor at = Tensor.uniform(g, -1, 1, dt, k, m), b = Tensor.uniform(g, -1, 1, dt, n, k);
            Tensor c = Tensor.uniform(g, -1, 1, dt, m, n), bias = Tensor.uniform(g, -1, 1, dt, n);
            double[] ad = at.transpose(0, 1).contiguous().toDoubleArray(), bd = b.transpose(0, 1).contiguous().toDoubleArray();
            double[] c0 = c.toDoubleArray(), biasd = bias.toDoubleArray();
            MatMul.gemm(true, true, 0.5, at, b, 2.0, c, new GemmEpilogue(bias, UnaryOp.GELU));
            double[] got = c.toDoubleArray();
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += ad[i * k + p] * bd[p * n + j];
                    double want = act(UnaryOp.GELU, 0.5 * s + 2.0 * c0[i * n + j] + biasd[j]);
                    assertEquals(want, got[i * n + j], dt == DType.F32 ? 1e-5 : 1e-12, dt + " [" + i + "," + j + "]");
                }
        }
    }

    @Test
    void badEpiloguesAreRejected() {
        Tensor bias2d = Tensor.zeros(2, 3);
        assertThrows(IllegalArgumentException.class, () -> new GemmEpilogue(bias2d, null));
        assertThrows(IllegalArgumentException.class, () -> new GemmEpilogue(null, null));
        assertThrows(IllegalArgumentException.class, () -> new GemmEpilogue(null, null, null));
        assertThrows(IllegalArgumentException.class, () -> new GemmEpilogue(null, UnaryOp.CLAMP));
        Tensor a = Tensor.zeros(4, 5), b = Tensor.zeros(5, 6), c = Tensor.zeros(4, 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MatMul.gemm(false, false, 1, a, b, 0, c, new GemmEpilogue(Tensor.zeros(7), null)));
        assertTrue(e.getMessage().contains("7 values for 6 columns"), e.getMessage());
    }
}
