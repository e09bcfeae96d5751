package dev.kiln.compress.sparse;

import dev.kiln.tensor.Tensor;

/**
 * Compressed sparse rows: for row i the nonzeros are values[rowPtr[i] .. rowPtr[i+1]) at columns
 * colIdx[same range], columns ascending. Exact zeros of the dense matrix are dropped (a -0.0 weight
 * is a zero). Bytes: 4 per value + 4 per column index + 4 * (rows + 1) row pointers.
 *
 * <p>Kernels ({@link CsrKernels}): batch = per row, broadcast-FMA of each w_ij over row j of X^T;
 * vector = gather-dot of the row's values with x[colIdx].
 */
public record CsrMatrix(int rows, int cols, float[] values, int[] colIdx, int[] rowPtr) implements SparseMatrix {

    public CsrMatrix {
        if (rowPtr.length != rows + 1 || rowPtr[0] != 0 || rowPtr[rows] != values.length || colIdx.length != values.length)
            throw new IllegalArgumentException("csr: inconsistent arrays for [" + rows + " x " + cols + "]: rowPtr "
                    + rowPtr.length + ", values " + values.length + ", colIdx " + colIdx.length);
    }

    /** CSR of a dense 2-D weight; zeros are dropped. */
    public static CsrMatrix fromDense(Tensor weight) {
        int[] s = weight.shape();
        return fromDense(SparseChecks.denseArray(weight, "csr"), s[0], s[1]);
    }

    /** CSR of weight * (mask != 0). */
    public static CsrMatrix fromMask(Tensor weight, Tensor mask) {
        int[] s = weight.shape();
        return fromDense(SparseChecks.masked(weight, mask, "csr"), s[0], s[1]);
    }

    /** CSR of a row-major dense array [rows x cols]. */
    public static CsrMatrix fromDense(float[] dense, int rows, int cols) {
        SparseChecks.checkDims(dense, rows, cols, "csr");
        int nnz = 0;
        for (float v : dense) if (v != 0) nnz++;
        float[] vals = new float[nnz];
        int[] col = new int[nnz];
        int[] ptr = new int[rows + 1];
        int p = 0;
        for (int i = 0; i < rows; i++) {
            int base = i * cols;
            for (int j = 0; j < cols; j++) {
                float v = dense[base + j];
                if (v != 0) { vals[p] = v; col[p++] = j; }
            }
            ptr[i + 1] = p;
        }
        return new CsrMatrix(rows, cols, vals, col, ptr);
    }

    @Override public String format() { return "csr"; }
    @Override public long storedValues() { return values.length; }
    @Override public long bytes() { return 8L * values.length + 4L * (rows + 1); }

    @Override
    public float[] toDenseArray() {
        float[] d = new float[Math.multiplyExact(rows, cols)];
        for (int i = 0; i < rows; i++)
            for (int p = rowPtr[i]; p < rowPtr[i + 1]; p++) d[i * cols + colIdx[p]] = values[p];
        return d;
    }

    @Override public int paddedCols() { return cols; }
    @Override public int paddedRows() { return rows; }
    @Override public int units() { return rows; }

    @Override
    public void multiplyBatch(float[] xT, int ldb, float[] yT, int from, int to) {
        CsrKernels.batch(this, xT, ldb, yT, from, to);
    }

    @Override
    public float[] prepareVector(float[] x, int offset) {
        return java.util.Arrays.copyOfRange(x, offset, offset + cols);
    }

    @Override
    public void multiplyVector(float[] x, float[] y, int from, int to) {
        CsrKernels.vector(this, x, y, from, to);
    }

    @Override public String toString() {
        return String.format(java.util.Locale.ROOT, "CsrMatrix[%d x %d, nnz %d, %.1f%% sparse]", rows, cols, values.length, 100 * sparsity());
    }
}
