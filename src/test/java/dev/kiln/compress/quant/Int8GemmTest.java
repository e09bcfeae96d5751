package dev.kiln.compress.quant;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The fast int8 GEMM (vector kernel and its scalar twin, 1 and 2 threads, packed and plain entry
 * points) against the scalar reference, exactly (int32 equality), and the fast requantize epilogue
 * against its reference.
 */
class Int8GemmTest {
    private Scope scope;
    private boolean savedScalar, savedVnni;
    private int savedThreads;

    @BeforeEach void open() {
        scope = Scope.open();
        savedScalar = CpuConfig.scalar();
        savedThreads = CpuConfig.threads();
        savedVnni = Int8VnniKernel.enabled();
    }

    @AfterEach void close() {
        CpuConfig.setScalar(savedScalar);
        CpuConfig.setThreads(savedThreads);
        if (Int8VnniKernel.unavailableReason() == null) Int8VnniKernel.setEnabled(savedVnni);
        scope.close();
    }

    /** The kernels under test: native VNNI (where it loads), Vector API, and the scalar twin. */
    private static List<String> kernels() {
        return Int8VnniKernel.unavailableReason() == null ? List.of("vnni", "vector", "scalar") : List.of("vector", "scalar");
    }

    private static void select(String kernel) {
        CpuConfig.setScalar(kernel.equals("scalar"));
        if (Int8VnniKernel.unavailableReason() == null) Int8VnniKernel.setEnabled(kernel.equals("vnni"));
        assertEquals(kernel.equals("vnni") ? "vnni" : "vector", Int8Gemm.pack(Tensor.zeros(DType.I8, 1, 1)).kernel());
    }

    /** Where the CPU has VNNI and the library was built (CI builds it), the native kernel must load. */
    @Test void vnniKernelLoadsWhereTheCpuHasIt() throws Exception {
        boolean cpu = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/cpuinfo")).contains("avx512_vnni");
        boolean built = Int8VnniKernel.class.getResource("/native/libkiln_cpu.so") != null;
        org.junit.jupiter.api.Assumptions.assumeTrue(cpu && built, "needs a VNNI CPU and native/build-cpu.sh output");
        assertEquals(null, Int8VnniKernel.unavailableReason());
    }

    /** Random int8 values; mode 0 uniform, 1 all -128, 2 all 127, 3 only the extremes. */
    private static Tensor int8(Random r, int mode, int rows, int cols) {
        double[] v = new double[rows * cols];
        for (int i = 0; i < v.length; i++)
            v[i] = switch (mode) {
                case 1 -> -128;
                case 2 -> 127;
                case 3 -> r.nextBoolean() ? -128 : 127;
                default -> r.nextInt(256) - 128;
            };
        return Tensor.fromDoubles(DType.I8, v, rows, cols);
    }

    private static void assertExact(Tensor a, Tensor b, String what) {
        int[] want = Int8Gemm.matmulTReference(a, b).toIntArray();
        assertArrayEquals(want, Int8Gemm.matmulT(a, b).toIntArray(), what);
        assertArrayEquals(want, Int8Gemm.matmulT(a, Int8Gemm.pack(b)).toIntArray(), what + " (packed)");
    }

    @Test void matchesReferenceOnRandomShapesBothPathsAndThreadCounts() {
        Random r = new Random(7);
        int[] ks = {1, 3, 17, 63, 65, 1000};
        int[] mns = {1, 7, 64, 130};
        for (String kernel : kernels())
            for (int threads : new int[]{1, 2}) {
                select(kernel);
                CpuConfig.setThreads(threads);
                for (int k : ks)
                    for (int m : mns)
                        for (int n : mns) {
                            if (k == 1000 && m * n > 64 * 130) continue; // keep the reference cheap
                            int mode = (k + m + n) % 4;
                            Tensor a = int8(r, mode, m, k), b = int8(r, (mode + 1) % 4, n, k);
                            assertExact(a, b, kernel + " threads=" + threads + " m=" + m + " n=" + n + " k=" + k + " mode=" + mode);
                        }
            }
    }

    @Test void extremesAccumulateWithoutOverflowAtLargeK() {
        Random r = new Random(3);
        for (String kernel : kernels()) {
            select(kernel);
            Tensor a = int8(r, 1, 5, 4099), b = int8(r, 1, 33, 4099);
            int[] c = Int8Gemm.matmulT(a, b).toIntArray();
            for (int v : c) assertEquals(16384 * 4099, v);
            Tensor a2 = int8(r, 3, 9, 4097), b2 = int8(r, 3, 19, 4097);
            assertExact(a2, b2, "extremes " + kernel);
        }
    }

    @Test void acceptsNonContiguousViews() {
        Random r = new Random(11);
        Tensor a = int8(r, 0, 40, 30).transpose(0, 1), b = int8(r, 0, 40, 21).transpose(0, 1);
        assertExact(a, b, "transposed views");
    }

    @Test void rejectsBadShapes() {
        Random r = new Random(1);
        Tensor a = int8(r, 0, 4, 5), b = int8(r, 0, 3, 6);
        assertThrows(IllegalArgumentException.class, () -> Int8Gemm.matmulT(a, b));
        assertThrows(IllegalArgumentException.class, () -> Int8Gemm.matmulT(a, Int8Gemm.pack(b)));
        assertThrows(IllegalArgumentException.class, () -> Int8Gemm.pack(Tensor.zeros(3, 6)));
    }

    @Test void packKeepsRowSums() {
        Random r = new Random(5);
        Tensor b = int8(r, 0, 9, 13);
        long[] v = b.toLongArray();
        int[] sums = Int8Gemm.pack(b).rowSums();
        for (int j = 0; j < 9; j++) {
            int s = 0;
            for (int p = 0; p < 13; p++) s += (int) v[j * 13 + p];
            assertEquals(s, sums[j]);
        }
    }

    @Test void requantizeMatchesReference() {
        Random r = new Random(9);
        int m = 7, n = 19;
        int[] acc = new int[m * n];
        for (int i = 0; i < acc.length; i++) acc[i] = r.nextInt(400_001) - 200_000;
        Tensor c = Tensor.fromArray(acc, m, n);
        float[] ws = new float[n], bias = new float[n];
        int[] rs = new int[n];
        for (int j = 0; j < n; j++) {
            ws[j] = 1e-3f * (1 + r.nextFloat());
            bias[j] = r.nextFloat() - 0.5f;
            rs[j] = r.nextInt(2001) - 1000;
        }
        for (boolean relu : new boolean[]{false, true})
            for (float outScale : new float[]{0f, 0.05f, 0.5f})
                for (float[] bs : new float[][]{null, bias}) {
                    Tensor want = Int8Gemm.requantizeReference(c, 0.02f, 3, ws, rs, bs, relu, outScale, -5);
                    Tensor got = Int8Gemm.requantize(c, 0.02f, 3, ws, rs, bs, relu, outScale, -5);
                    assertEquals(want.dtype(), got.dtype());
                    assertArrayEquals(want.shape(), got.shape());
                    assertArrayEquals(want.toDoubleArray(), got.toDoubleArray(), "relu=" + relu + " outScale=" + outScale);
                }
        assertThrows(IllegalArgumentException.class, () -> Int8Gemm.requantize(c, 1, 0, new float[3], rs, null, false, 0, 0));
    }

    /**
     * The VNNI kernel's row tiles for few tiles on several threads: BERT's 256 rows against 3 column
     * tiles become 4 tiles of 64 (12 tasks, 6 per thread) instead of 3 of 88 (9 tasks, 5 and 4); one
     * row keeps its 8-row tile; the chosen tile never leaves the busiest thread more rows than the first.
     */
    @Test void rowTilesBalanceTheThreads() {
        assertEquals(64, Int8VnniKernel.balancedRowTile(256, 88, 3, 2));
        assertEquals(432, Int8VnniKernel.busiestRows(256, 88, 3, 2), "3 x 3 tiles of 88, 88, 80 rows: 5 tasks on the first thread");
        assertEquals(384, Int8VnniKernel.busiestRows(256, 64, 3, 2), "4 x 3 tiles of 64: 6 and 6");
        assertEquals(8, Int8VnniKernel.balancedRowTile(1, 8, 8, 2));
        for (int m : new int[]{7, 33, 100, 256, 300, 1024})
            for (int cols : new int[]{1, 3, 5})
                for (int threads : new int[]{2, 3, 4}) {
                    int first = Math.min(96, ((m + (m + 95) / 96 - 1) / ((m + 95) / 96) + 7) / 8 * 8);
                    int rt = Int8VnniKernel.balancedRowTile(m, first, cols, threads);
                    org.junit.jupiter.api.Assertions.assertEquals(0, rt % 8, "m " + m);
                    org.junit.jupiter.api.Assertions.assertTrue(rt <= first && (rt >= 32 || rt == first), "m " + m + " tile " + rt);
                    org.junit.jupiter.api.Assertions.assertTrue(Int8VnniKernel.busiestRows(m, rt, cols, threads) <= Int8VnniKernel.busiestRows(m, first, cols, threads), "m " + m + " cols " + cols + " threads " + threads);
                }
    }
}
