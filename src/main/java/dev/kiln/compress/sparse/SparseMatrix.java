package dev.kiln.compress.sparse;

import dev.kiln.tensor.Tensor;

/**
 * A sparse F32 weight matrix W [rows x cols] (rows = output features N, cols = input features K)
 * in one of Kiln's storage formats: {@link CsrMatrix} (unstructured), {@link BsrMatrix} (4x4
 * blocks) or {@link Sparse24Matrix} (2:4 structured along K).
 *
 * <p>Every format offers the two kernel shapes that {@link SparseMatmul} drives:
 * <ul>
 *   <li>batch: {@code Y^T[unit rows, :] = W[unit rows, :] X^T} with X^T [paddedCols x ldb] and
 *       Y^T [paddedRows x ldb] row-major, ldb a multiple of the vector length (zero padded). One
 *       row of X^T holds one input feature for the whole batch, so a weight w_ij scales a
 *       contiguous run of activations: the kernels are broadcast-FMAs over the batch.</li>
 *   <li>vector: {@code y[unit rows] = W[unit rows, :] x} for one activation vector, x prepared by
 *       {@link #prepareVector} (zero padded, or re-laid out for the format).</li>
 * </ul>
 * Work is split over "units" (rows for CSR and 2:4, block rows of 4 for BSR) so that threads write
 * disjoint output rows.
 */
public sealed interface SparseMatrix permits CsrMatrix, BsrMatrix, Sparse24Matrix {

    /** Output features N (rows of W). */
    int rows();

    /** Input features K (columns of W). */
    int cols();

    /** Short format name used in tables and the crossover file: "csr", "bsr4x4", "2:4". */
    String format();

    /** Stored nonzero weights (a BSR block counts all 16 of its values, zeros included). */
    long storedValues();

    /** Bytes of the stored arrays: values + indices + row pointers (+ metadata). */
    long bytes();

    /** Bytes of the same matrix as a dense F32 array. */
    default long denseBytes() { return 4L * rows() * cols(); }

    /** Fraction of exact zeros among rows*cols dense entries that this format skips. */
    default double sparsity() {
        long n = (long) rows() * cols();
        return n == 0 ? 0 : 1.0 - (double) storedValues() / n;
    }

    /** The matrix as a dense row-major float array [rows x cols] (exact round trip). */
    float[] toDenseArray();

    /** The matrix as a dense F32 tensor [rows, cols]. */
    default Tensor toDense() { return Tensor.fromArray(toDenseArray(), rows(), cols()); }

    /** Rows of X^T the batch kernel reads (cols rounded up to the format's column granule). */
    int paddedCols();

    /** Rows of Y^T the batch kernel writes (rows rounded up to the format's row granule). */
    int paddedRows();

    /** Number of work units (rows or block rows). */
    int units();

    /** Multiply-adds per work unit on average (for thread splitting). */
    default long costPerUnit() { return Math.max(1, storedValues() / Math.max(units(), 1)); }

    /** Batch kernel over units [from, to): overwrites their rows of yT. */
    void multiplyBatch(float[] xT, int ldb, float[] yT, int from, int to);

    /** The activation vector x (length cols) in the layout {@link #multiplyVector} reads. */
    float[] prepareVector(float[] x, int offset);

    /** Vector kernel over units [from, to): overwrites y[rows of those units] (y has paddedRows). */
    void multiplyVector(float[] xPrepared, float[] y, int from, int to);
}
