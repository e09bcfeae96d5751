package dev.kiln.compress.sparse;

import dev.kiln.backend.cpu.CpuConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

class SparseKernelsTest {
    private static final int[][] SHAPES = {{1, 1}, {3, 7}, {9, 33}, {17, 64}, {40, 129}, {64, 300}};
    private static final double[] SPARSITY = {0, 0.5, 0.99, 1.0};
    private static final int[] BATCHES = {1, 3, 5, 17, 64};

    private record Fmt(String name, TriFunction make) {}
    private interface TriFunction { SparseMatrix make(float[] d, int n, int k); }

    private static final List<Fmt> FORMATS = List.of(
            new Fmt("csr", CsrMatrix::fromDense),
            new Fmt("bsr", BsrMatrix::fromDense),
            new Fmt("2:4", Sparse24Matrix::fromDense));

    @Test
    void kernelsMatchFloat64Reference() { sweep(); }

    @Test
    void scalarTwinsMatchFloat64Reference() {
        boolean saved = CpuConfig.scalar();
        CpuConfig.setScalar(true);
        try { sweep(); } finally { CpuConfig.setScalar(saved); }
    }

    @Test
    void twoThreadsMatchOneThread() {
        int saved = CpuConfig.threads();
        CpuConfig.setThreads(2);
        try {
            float[] d = SparseTestData.random(11, 256, 300, 0.7);
            float[] x = SparseTestData.random(12, 64, 300, 0);
            double[] ref = SparseTestData.reference(d, 256, 300, x, 64);
            SparseTestData.assertClose(ref, SparseMatmul.linear(x, 64, CsrMatrix.fromDense(d, 256, 300)), 300, "csr t2");
            SparseTestData.assertClose(ref, SparseMatmul.linear(x, 64, BsrMatrix.fromDense(d, 256, 300)), 300, "bsr t2");
            float[] x1 = SparseTestData.random(13, 1, 300, 0);
            SparseTestData.assertClose(SparseTestData.reference(d, 256, 300, x1, 1),
                    SparseMatmul.linear(x1, 1, CsrMatrix.fromDense(d, 256, 300)), 300, "csr t2 b1");
        } finally {
            CpuConfig.setThreads(saved);
        }
    }

    private static void sweep() {
        long seed = 100;
        for (int[] s : SHAPES)
            for (double sp : SPARSITY)
                for (int batch : BATCHES) {
                    int n = s[0], k = s[1];
                    float[] d = SparseTestData.withSpecialRows(SparseTestData.random(seed++, n, k, sp), n, k, n - 1, 0);
                    float[] x = SparseTestData.random(seed++, batch, k, 0);
                    for (Fmt f : FORMATS) {
                        float[] w = f.name.equals("2:4") ? Sparse24Matrix.keepLargestTwoOfFour(d.clone(), n, k) : d;
                        double[] ref = SparseTestData.reference(w, n, k, x, batch);
                        float[] y = SparseMatmul.linear(x, batch, f.make.make(w, n, k));
                        SparseTestData.assertClose(ref, y, k, f.name + " " + n + "x" + k + " sparsity " + sp + " batch " + batch);
                    }
                }
    }
}
