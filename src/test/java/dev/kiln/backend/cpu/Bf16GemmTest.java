package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bf16 GEMM against a float64 reference computed on the bf16-rounded inputs (so the only error
 * left is f32 accumulation: |got - ref| <= 1e-5 * sum |terms| + 1e-6), on odd shapes (K odd and
 * even, N not a multiple of 16, rows not a multiple of 8, several row and column tiles), with both
 * kernels (native AVX512-BF16 where this CPU and build have it, and the Vector API twin), B as
 * [K, N] and as a transposed Linear weight [N, K]; 1 and 2 threads give the same bits.
 */
class Bf16GemmTest {
    private final Generator g = new Generator(5);

    @AfterEach
    void restore() {
        if (Bf16Gemm.unavailableReason() == null) Bf16Gemm.setNative(true);
        CpuConfig.setThreads(Runtime.getRuntime().availableProcessors());
    }

    private static List<Boolean> kernels() {
        List<Boolean> k = new ArrayList<>();
        k.add(false);
        if (Bf16Gemm.unavailableReason() == null) k.add(true);
        return k;
    }

    private static double round(float f) { return DType.bf16ToFloat(DType.floatToBf16(f)); }

    private static void check(Tensor a, Tensor b, boolean transB, String what) {
        int m = a.size(0), k = a.size(1), n = transB ? b.size(0) : b.size(1);
        float[] av = a.toFloatArray(), bv = b.toFloatArray();
        try (Bf16Gemm.Packed p = Bf16Gemm.pack(b, transB); Tensor c = Tensor.full(Float.NaN, DType.F32, m, n)) {
            Bf16Gemm.gemm(a, p, c);
            float[] got = c.toFloatArray();
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double ref = 0, mag = 0;
                    for (int q = 0; q < k; q++) {
                        double t = round(av[i * k + q]) * round(transB ? bv[j * k + q] : bv[q * n + j]);
                        ref += t;
                        mag += Math.abs(t);
                    }
                    double err = Math.abs(got[i * n + j] - ref);
                    if (!(err <= 1e-5 * mag + 1e-6))
                        throw new AssertionError(what + " m=" + m + " k=" + k + " n=" + n + " at (" + i + "," + j + "): got "
                                + got[i * n + j] + ", ref " + ref);
                }
        }
    }

    @Test
    void oddShapesBothKernelsAgainstReference() {
        for (boolean nat : kernels()) {
            if (Bf16Gemm.unavailableReason() == null) Bf16Gemm.setNative(nat);
            String what = nat ? "native" : "vector";
            for (int[] s : new int[][]{{1, 1, 1}, {7, 3, 17}, {8, 2, 16}, {9, 33, 15}, {13, 257, 50}, {97, 300, 100}, {200, 64, 33}, {3, 1030, 49},
                    {1, 770, 100}, {1, 3001, 600}, {1, 64, 250}, {2, 255, 40}}) {      // one row: the streaming row kernel
                check(Tensor.uniform(g, -2, 2, DType.F32, s[0], s[1]), Tensor.uniform(g, -2, 2, DType.F32, s[1], s[2]), false, what);
                check(Tensor.uniform(g, -2, 2, DType.F32, s[0], s[1]), Tensor.uniform(g, -2, 2, DType.F32, s[2], s[1]), true, what + " transB");
            }
            Tensor wide = Tensor.uniform(g, -2, 2, DType.F32, 40, 70);     // a strided A (row stride 70)
            check(wide.slice(1, 3, 36, 1), Tensor.uniform(g, -2, 2, DType.F32, 33, 20), false, what + " strided A");
        }
    }

    @Test
    void threadCountDoesNotChangeBits() {
        for (boolean nat : kernels()) {
            if (Bf16Gemm.unavailableReason() == null) Bf16Gemm.setNative(nat);
            Tensor a = Tensor.uniform(g, -1, 1, DType.F32, 300, 200), b = Tensor.uniform(g, -1, 1, DType.F32, 200, 130);
            try (Bf16Gemm.Packed p = Bf16Gemm.pack(b, false); Tensor c1 = Tensor.zeros(300, 130); Tensor c2 = Tensor.zeros(300, 130)) {
                CpuConfig.setThreads(1);
                Bf16Gemm.gemm(a, p, c1);
                CpuConfig.setThreads(2);
                Bf16Gemm.gemm(a, p, c2);
                assertArrayEquals(c1.toFloatArray(), c2.toFloatArray(), nat ? "native" : "vector");
            }
        }
    }

    /** The one-row kernel sums as the GEMM does: a row alone gives the bits it gets as row 0 of a block. */
    @Test
    void oneRowKernelEqualsTheGemmRowBitwise() {
        if (Bf16Gemm.unavailableReason() != null) return;
        Tensor a = Tensor.uniform(g, -1, 1, DType.F32, 9, 1001), b = Tensor.uniform(g, -1, 1, DType.F32, 1001, 300);
        try (Bf16Gemm.Packed p = Bf16Gemm.pack(b, false); Tensor all = Tensor.zeros(9, 300); Tensor one = Tensor.zeros(1, 300);
             Tensor row = a.slice(0, 4, 5, 1)) {
            Bf16Gemm.gemm(a, p, all);
            for (int threads : new int[]{1, 2}) {
                CpuConfig.setThreads(threads);
                Bf16Gemm.gemm(row, p, one);
                float[] want = java.util.Arrays.copyOfRange(all.toFloatArray(), 4 * 300, 5 * 300);
                assertArrayEquals(want, one.toFloatArray(), "threads " + threads);
            }
        }
    }

    @Test
    void nativeAndVectorKernelsAgree() {
        if (Bf16Gemm.unavailableReason() != null) return;    // nothing to compare on this CPU / build
        Tensor a = Tensor.uniform(g, -1, 1, DType.F32, 50, 515), b = Tensor.uniform(g, -1, 1, DType.F32, 515, 70);
        try (Bf16Gemm.Packed p = Bf16Gemm.pack(b, false); Tensor c1 = Tensor.zeros(50, 70); Tensor c2 = Tensor.zeros(50, 70)) {
            Bf16Gemm.setNative(true);
            Bf16Gemm.gemm(a, p, c1);
            Bf16Gemm.setNative(false);
            Bf16Gemm.gemm(a, p, c2);
            float[] x = c1.toFloatArray(), y = c2.toFloatArray();
            for (int i = 0; i < x.length; i++) assertEquals(y[i], x[i], 1e-4, "element " + i);
        }
    }

    /** Where the library is built and the CPU has avx512_bf16, the native kernel must be the one in use. */
    @Test
    void nativeKernelLoadsWhereTheCpuHasIt() throws Exception {
        boolean built = Bf16Gemm.class.getResource("/native/libkiln_cpu.so") != null;
        var cpuinfo = java.nio.file.Path.of("/proc/cpuinfo");
        boolean flag = java.nio.file.Files.exists(cpuinfo) && java.nio.file.Files.readString(cpuinfo).contains(" avx512_bf16");
        if (built && flag && !"off".equals(System.getProperty("kiln.native")))
            assertEquals(null, Bf16Gemm.unavailableReason(), "native bf16 kernel should load here");
    }

    @Test
    void roundingIsNearestEvenAndKeepsSpecials() {
        assertEquals((short) 0x3f80, DType.floatToBf16(1.0f));
        assertEquals((short) 0x3f80, DType.floatToBf16(Float.intBitsToFloat(0x3f808000)));   // tie, even stays
        assertEquals((short) 0x3f82, DType.floatToBf16(Float.intBitsToFloat(0x3f818000)));   // tie, odd rounds up
        assertEquals((short) 0x3f81, DType.floatToBf16(Float.intBitsToFloat(0x3f808001)));   // above the tie
        assertEquals((short) 0x7f80, DType.floatToBf16(Float.POSITIVE_INFINITY));
        assertTrue(Float.isNaN(Float.intBitsToFloat(DType.floatToBf16(Float.NaN) << 16)));
    }

    @Test
    void badShapesNameThem() {
        try (Bf16Gemm.Packed p = Bf16Gemm.pack(Tensor.zeros(4, 5), false)) {
            var e = assertThrows(IllegalArgumentException.class, () -> Bf16Gemm.gemm(Tensor.zeros(2, 3), p, Tensor.zeros(2, 5)));
            assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 5]"), e.getMessage());
        }
    }
}
