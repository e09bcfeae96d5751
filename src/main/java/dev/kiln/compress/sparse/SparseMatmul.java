package dev.kiln.compress.sparse;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.Parallel;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * Sparse weight times dense activations on the CPU: {@code Y = X W^T} (the Linear layout) with W a
 * {@link SparseMatrix} [N x K] and X [B x K] row-major, Y [B x N] row-major.
 *
 * <p>Batches of more than {@value #VECTOR_MAX_BATCH} rows run the format's batch kernel: X is
 * transposed into a zero-padded X^T [paddedCols x ldb] (ldb = B rounded up to the vector length),
 * the kernel writes Y^T [paddedRows x ldb] with the work units split over
 * {@link CpuConfig#threads()} by {@link Parallel}, and Y^T is transposed back. The transposes cost
 * O(B (K + N)) against O(B nnz) for the product, and are included in every timing of the bench.
 * Smaller batches run the vector kernel once per activation row.
 */
public final class SparseMatmul {
    private SparseMatmul() {}

    /** Batches up to this size use the per-row vector kernel (gather-dot) instead of the batch kernel. */
    public static final int VECTOR_MAX_BATCH = 4;

    /** Y [..., N] = X [..., K] W^T for a sparse W; X of any float dtype, Y is F32. */
    public static Tensor linear(Tensor x, SparseMatrix w) {
        int[] xs = x.shape();
        if (xs.length == 0 || xs[xs.length - 1] != w.cols())
            throw new IllegalArgumentException("sparse linear: input shape " + Shape.str(xs) + " does not match weight ["
                    + w.rows() + " x " + w.cols() + "] (expected [..., " + w.cols() + "])");
        int batch = (int) (x.numel() / Math.max(w.cols(), 1));
        float[] y = linear(x.toFloatArray(), batch, w);
        int[] ys = xs.clone();
        ys[ys.length - 1] = w.rows();
        return Tensor.fromArray(y, ys);
    }

    /** y [batch x N] = x [batch x K] W^T, row-major float arrays. */
    public static float[] linear(float[] x, int batch, SparseMatrix w) {
        int k = w.cols(), n = w.rows();
        if ((long) batch * k != x.length)
            throw new IllegalArgumentException("sparse linear: " + x.length + " activations are not [" + batch + " x " + k + "]");
        float[] y = new float[Math.multiplyExact(batch, n)];
        if (batch == 0 || n == 0) return y;
        if (batch <= VECTOR_MAX_BATCH) {
            float[] yv = new float[w.paddedRows()];
            for (int b = 0; b < batch; b++) {
                float[] xv = w.prepareVector(x, b * k);
                Parallel.forRange(w.units(), w.costPerUnit(), (s, e) -> w.multiplyVector(xv, yv, s, e));
                System.arraycopy(yv, 0, y, b * n, n);
            }
            return y;
        }
        int ldb = SparseChecks.roundUp(batch, CpuConfig.F32.length());
        float[] xT = transposeIn(x, batch, k, w.paddedCols(), ldb);
        float[] yT = new float[w.paddedRows() * ldb];
        Parallel.forRange(w.units(), w.costPerUnit() * ldb, (s, e) -> w.multiplyBatch(xT, ldb, yT, s, e));
        transposeOut(yT, ldb, y, batch, n);
        return y;
    }

    /** x [batch x k] into a zero-padded xT [kPad x ldb]. */
    static float[] transposeIn(float[] x, int batch, int k, int kPad, int ldb) {
        float[] xT = new float[kPad * ldb];
        Parallel.forRange(k, batch, (s, e) -> {
            for (int j0 = s; j0 < e; j0 += 16) {
                int j1 = Math.min(j0 + 16, e);
                for (int b = 0; b < batch; b++) {
                    int src = b * k;
                    for (int j = j0; j < j1; j++) xT[j * ldb + b] = x[src + j];
                }
            }
        });
        return xT;
    }

    /** yT [>= n x ldb] into y [batch x n]. */
    static void transposeOut(float[] yT, int ldb, float[] y, int batch, int n) {
        Parallel.forRange(batch, n, (s, e) -> {
            for (int i0 = 0; i0 < n; i0 += 16) {
                int i1 = Math.min(i0 + 16, n);
                for (int b = s; b < e; b++) {
                    int dst = b * n;
                    for (int i = i0; i < i1; i++) y[dst + i] = yT[i * ldb + b];
                }
            }
        });
    }
}
