package dev.kiln.compress.sparse;

import dev.kiln.backend.cpu.CpuConfig;
import org.junit.jupiter.api.Test;

/**
 * The 2:4 batch kernel's blocking edges against the float64 reference: row counts that leave 1-3
 * rows after the blocks of 4 (also per thread when 2 threads split the rows), batches wider than
 * one 4-vector chunk with a 1-vector tail, K not a multiple of 4, and an empty row inside a block.
 */
class Sparse24KernelsTest {

    @Test
    void blockEdgesMatchFloat64Reference() {
        int[][] shapes = {{5, 30}, {6, 61}, {7, 129}, {258, 203}};
        int[] batches = {6, 33, 64, 80, 130};
        long seed = 700;
        for (int threads : new int[]{1, 2}) {
            int saved = CpuConfig.threads();
            CpuConfig.setThreads(threads);
            try {
                for (int[] s : shapes)
                    for (int batch : batches) {
                        int n = s[0], k = s[1];
                        float[] d = Sparse24Matrix.keepLargestTwoOfFour(
                                SparseTestData.withSpecialRows(SparseTestData.random(seed++, n, k, 0.2), n, k, 2, 1), n, k);
                        float[] x = SparseTestData.random(seed++, batch, k, 0);
                        SparseTestData.assertClose(SparseTestData.reference(d, n, k, x, batch),
                                SparseMatmul.linear(x, batch, Sparse24Matrix.fromDense(d, n, k)), k,
                                "2:4 " + n + "x" + k + " batch " + batch + " threads " + threads);
                    }
            } finally {
                CpuConfig.setThreads(saved);
            }
        }
    }
}
