package dev.kiln.compress.sparse;

import dev.kiln.tensor.Tensor;

/**
 * Block-sparse rows with 4x4 blocks: the matrix is cut into a grid of 4x4 tiles (the last block
 * row/column zero padded) and only tiles holding a nonzero are stored, 16 values each, row-major
 * inside the tile. Block row br owns blocks blockRowPtr[br] .. blockRowPtr[br+1], block p covers
 * columns 4 * blockCol[p] .. +4. Bytes: 64 per block + 4 per block column index + 4 * (block rows
 * + 1) pointers: with its natural block-structured masks the index cost per weight is 1/16 of CSR's.
 *
 * <p>Why 4x4 with AVX-512 (L = 16 floats): one block is exactly one vector, so the single-vector
 * kernel is one FMA per block against x laid out "4 columns repeated 4 times"; the batch kernel
 * reuses each loaded X^T vector for the block's 4 rows (1 load : 4 FMAs) and is compute bound.
 * Kernels in {@link BsrKernels}.
 */
public record BsrMatrix(int rows, int cols, float[] values, int[] blockCol, int[] blockRowPtr) implements SparseMatrix {
    /** Block height and width. */
    public static final int B = 4;

    public BsrMatrix {
        int br = (rows + B - 1) / B;
        if (blockRowPtr.length != br + 1 || blockRowPtr[0] != 0 || blockRowPtr[br] != blockCol.length
                || values.length != blockCol.length * B * B)
            throw new IllegalArgumentException("bsr: inconsistent arrays for [" + rows + " x " + cols + "]: blockRowPtr "
                    + blockRowPtr.length + ", blockCol " + blockCol.length + ", values " + values.length);
    }

    /** BSR of a dense 2-D weight: a 4x4 tile is stored when any of its entries is nonzero. */
    public static BsrMatrix fromDense(Tensor weight) {
        int[] s = weight.shape();
        return fromDense(SparseChecks.denseArray(weight, "bsr"), s[0], s[1]);
    }

    /** BSR of weight * (mask != 0). */
    public static BsrMatrix fromMask(Tensor weight, Tensor mask) {
        int[] s = weight.shape();
        return fromDense(SparseChecks.masked(weight, mask, "bsr"), s[0], s[1]);
    }

    public static BsrMatrix fromDense(float[] dense, int rows, int cols) {
        SparseChecks.checkDims(dense, rows, cols, "bsr");
        int bRows = (rows + B - 1) / B, bCols = (cols + B - 1) / B;
        int[] ptr = new int[bRows + 1];
        java.util.List<Integer> cols0 = new java.util.ArrayList<>();
        for (int br = 0; br < bRows; br++) {
            for (int bc = 0; bc < bCols; bc++) if (anyNonzero(dense, rows, cols, br, bc)) cols0.add(bc);
            ptr[br + 1] = cols0.size();
        }
        int[] bcol = cols0.stream().mapToInt(Integer::intValue).toArray();
        float[] vals = new float[bcol.length * B * B];
        for (int br = 0; br < bRows; br++)
            for (int p = ptr[br]; p < ptr[br + 1]; p++)
                for (int r = 0; r < B; r++)
                    for (int c = 0; c < B; c++) {
                        int i = br * B + r, j = bcol[p] * B + c;
                        if (i < rows && j < cols) vals[p * B * B + r * B + c] = dense[i * cols + j];
                    }
        return new BsrMatrix(rows, cols, vals, bcol, ptr);
    }

    private static boolean anyNonzero(float[] d, int rows, int cols, int br, int bc) {
        for (int i = br * B; i < Math.min(rows, br * B + B); i++)
            for (int j = bc * B; j < Math.min(cols, bc * B + B); j++) if (d[i * cols + j] != 0) return true;
        return false;
    }

    /** Number of stored blocks. */
    public int blocks() { return blockCol.length; }

    @Override public String format() { return "bsr4x4"; }
    @Override public long storedValues() { return values.length; }
    @Override public long bytes() { return 4L * values.length + 4L * blockCol.length + 4L * blockRowPtr.length; }

    @Override
    public float[] toDenseArray() {
        float[] d = new float[Math.multiplyExact(rows, cols)];
        for (int br = 0; br + 1 < blockRowPtr.length; br++)
            for (int p = blockRowPtr[br]; p < blockRowPtr[br + 1]; p++)
                for (int r = 0; r < B; r++)
                    for (int c = 0; c < B; c++) {
                        int i = br * B + r, j = blockCol[p] * B + c;
                        if (i < rows && j < cols) d[i * cols + j] = values[p * B * B + r * B + c];
                    }
        return d;
    }

    @Override public int paddedCols() { return SparseChecks.roundUp(cols, B); }
    @Override public int paddedRows() { return SparseChecks.roundUp(rows, B); }
    @Override public int units() { return blockRowPtr.length - 1; }

    @Override
    public void multiplyBatch(float[] xT, int ldb, float[] yT, int from, int to) {
        BsrKernels.batch(this, xT, ldb, yT, from, to);
    }

    /** x expanded so that entry bc*16 + r*4 + c holds x[bc*4 + c] (each block's 4 columns, 4 times). */
    @Override
    public float[] prepareVector(float[] x, int offset) {
        float[] xe = new float[paddedCols() * B];
        for (int j = 0; j < cols; j++) {
            int base = (j / B) * B * B + j % B;
            float v = x[offset + j];
            for (int r = 0; r < B; r++) xe[base + r * B] = v;
        }
        return xe;
    }

    @Override
    public void multiplyVector(float[] xe, float[] y, int from, int to) {
        BsrKernels.vector(this, xe, y, from, to);
    }

    @Override public String toString() {
        return String.format(java.util.Locale.ROOT, "BsrMatrix[%d x %d, %d 4x4 blocks, %.1f%% sparse]", rows, cols, blocks(), 100 * sparsity());
    }
}
