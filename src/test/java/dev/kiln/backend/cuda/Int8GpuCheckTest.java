package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.backend.cuda.Int8GpuCheck.Timing;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The CPU-side pieces of {@link Int8GpuCheck}: reference GEMM, comparisons, statistics, report formats. */
class Int8GpuCheckTest {
    @Test
    void cpuReferenceIsTheScalarProduct() {
        int m = 5, n = 7, k = 33;
        byte[] a = Int8GpuCheck.randomBytes(1, m * k), b = Int8GpuCheck.randomBytes(2, n * k);
        int[] want = new int[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                for (int p = 0; p < k; p++) want[i * n + j] += a[i * k + p] * b[j * k + p];
        assertArrayEquals(want, Int8GpuCheck.cpuMatmulT(a, b, m, n, k));
    }

    @Test
    void shapesCoverTheIssuesOddCases() {
        String all = java.util.Arrays.deepToString(Int8GpuCheck.SHAPES);
        for (String s : new String[] {"[1, 7, 33]", "[129, 65, 100]", "[512, 512, 512]"}) assertTrue(all.contains(s), s);
    }

    @Test
    void mismatchReportsCountAndFirstPosition() {
        assertNull(Int8GpuCheck.firstMismatch(new int[] {1, 2, 3, 4}, new int[] {1, 2, 3, 4}, 2));
        String bad = Int8GpuCheck.firstMismatch(new int[] {1, 2, 3, 4}, new int[] {1, 2, 9, 8}, 2);
        assertEquals("2 of 4 differ, first at (1, 0): 9 != 3", bad);
        assertNotNull(Int8GpuCheck.firstBitMismatch(new float[] {0f}, new float[] {-0f}, 1), "bit-exact: -0 is not +0");
        assertNull(Int8GpuCheck.firstBitMismatch(new float[] {1.5f}, new float[] {1.5f}, 1));
    }

    @Test
    void bf16OfInt8IsExact() {
        byte[] all = new byte[256];
        for (int i = 0; i < 256; i++) all[i] = (byte) (i - 128);
        short[] h = Int8GpuCheck.toBf16(all);
        for (int i = 0; i < 256; i++) assertEquals(all[i], Float.intBitsToFloat((h[i] & 0xffff) << 16), 0.0);
    }

    @Test
    void statistics() {
        assertEquals(3.0, Int8GpuCheck.median(new double[] {5, 1, 3}));
        assertEquals(2.5, Int8GpuCheck.median(new double[] {4, 1, 3, 2}));
        assertEquals(1099.511627776, Int8GpuCheck.tops(8192, 1.0), 1e-9);
    }

    @Test
    void tableAndJsonCarryTheRatio() {
        List<Timing> t = List.of(new Timing("cuBLASLt int8 (IMMA)", 1.0, 1099.5, null),
                new Timing("kiln int8 128x256 (auto)", 2.0, 549.8, true),
                new Timing("kiln int8 dp4a", 40.0, 27.5, false),
                new Timing("cuBLAS bf16 (TFLOP/s)", 1.4, 785.4, null));
        assertEquals(0.5, Int8GpuCheck.kilnOverCublasLt(t), 1e-12);
        String table = Int8GpuCheck.table("H200", 8192, t, List.of());
        assertTrue(table.contains("best Kiln int8 / cuBLASLt int8 = 0.50 (goal >= 0.6)"), table);
        assertTrue(table.contains("NO") && table.contains("all exact"), table);
        String json = Int8GpuCheck.json("H200 \"x\"", 8192, t, List.of("a\\b"));
        assertTrue(json.contains("\"kiln_over_cublaslt\": 0.5000"), json);
        assertTrue(json.contains("\"device\": \"H200 \\\"x\\\"\""), json);
        assertTrue(json.contains("\"mismatches\": [\"a\\\\b\"]"), json);
        assertTrue(json.contains("\"exact_vs_cublaslt\": null") && json.contains("\"exact_vs_cublaslt\": false"), json);
    }

    @Test
    void anErrorIsOneLineAndTheReportIsWrittenWithoutTimings() {
        String e = Int8GpuCheck.error("cublasLt int8 3x1000x64", new CudaException("cublasLt int8: no algorithm for 3x1000x64\nmore", 0));
        assertEquals("ERROR cublasLt int8 3x1000x64: CudaException: cublasLt int8: no algorithm for 3x1000x64", e);
        String table = Int8GpuCheck.table("cuda:0", 8192, List.of(), List.of(e));
        assertTrue(table.contains("best Kiln int8 / cuBLASLt int8 = NaN") && table.contains("1 MISMATCHES OR ERRORS"), table);
        String json = Int8GpuCheck.json("cuda:0", 8192, List.of(), List.of(e));
        assertTrue(json.contains("\"results\": [\n  ],") && json.contains("\"kiln_over_cublaslt\": null"), json);
        assertTrue(json.contains("\"mismatches\": [\"ERROR cublasLt int8 3x1000x64: CudaException:"), json);
    }
}
