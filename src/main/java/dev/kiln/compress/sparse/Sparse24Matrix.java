package dev.kiln.compress.sparse;

import dev.kiln.tensor.Tensor;

/**
 * 2:4 structured sparsity (NVIDIA's "2:4", along K): in every group of 4 consecutive weights of a
 * row (columns 4g .. 4g+3) at most 2 are nonzero. Each group stores exactly 2 values and their
 * 2-bit positions inside the group (ascending; a group with fewer nonzeros stores zeros at unused
 * positions). Per row, values hold 2 * groupsPadded floats, groupsPadded = ceil(cols / 4) rounded up
 * to 8 (the padding groups are zero), so every 16 values (8 groups, 32 columns) share one int of
 * metadata: value q of a row sits at column {@code 4 * (q / 2) + ((meta >>> 2 * (q % 16)) & 3)}.
 * Bytes: 4 per stored value + 1/4 byte per value of metadata, ~53% of dense.
 *
 * <p>Kernels ({@link Sparse24Kernels}): batch = CSR-like broadcast-FMA with the column decoded from
 * the metadata; vector = for 8 groups, load the 32 activations as two vectors and pick each value's
 * partner with a two-vector lane permute (no gather, no index array).
 */
public record Sparse24Matrix(int rows, int cols, float[] values, int[] meta) implements SparseMatrix {

    public Sparse24Matrix {
        int vr = valuesPerRow(cols);
        if (values.length != (long) rows * vr || meta.length != (long) rows * (vr / 16))
            throw new IllegalArgumentException("2:4: inconsistent arrays for [" + rows + " x " + cols + "]: values "
                    + values.length + ", meta " + meta.length);
    }

    /** Stored values per row: 2 per group, groups rounded up to a multiple of 8. */
    static int valuesPerRow(int cols) { return 2 * SparseChecks.roundUp((cols + 3) / 4, 8); }

    /** 2:4 form of a dense weight that already is 2:4 sparse; else an error naming the row and group. */
    public static Sparse24Matrix fromDense(Tensor weight) {
        int[] s = weight.shape();
        return fromDense(SparseChecks.denseArray(weight, "2:4"), s[0], s[1]);
    }

    /** 2:4 form of weight * (mask != 0); the masked weight must be 2:4 sparse. */
    public static Sparse24Matrix fromMask(Tensor weight, Tensor mask) {
        int[] s = weight.shape();
        return fromDense(SparseChecks.masked(weight, mask, "2:4"), s[0], s[1]);
    }

    public static Sparse24Matrix fromDense(float[] dense, int rows, int cols) {
        SparseChecks.checkDims(dense, rows, cols, "2:4");
        int vr = valuesPerRow(cols), mr = vr / 16;
        float[] vals = new float[rows * vr];
        int[] meta = new int[rows * mr];
        for (int i = 0; i < rows; i++)
            for (int g = 0; g < vr / 2; g++) {
                int p0 = -1, p1 = -1;
                for (int p = 0; p < 4; p++) {
                    int j = 4 * g + p;
                    if (j >= cols || dense[i * cols + j] == 0) continue;
                    if (p0 < 0) p0 = p;
                    else if (p1 < 0) p1 = p;
                    else throw new IllegalArgumentException(String.format(
                            "2:4: row %d is not 2:4 sparse: columns %d..%d (group %d) hold more than 2 nonzeros",
                            i, 4 * g, Math.min(4 * g + 3, cols - 1), g));
                }
                if (p0 < 0) { p0 = 0; p1 = 1; }
                else if (p1 < 0) { if (p0 == 3) { p1 = 3; p0 = 2; } else p1 = p0 + 1; }
                int q = 2 * g;
                vals[i * vr + q] = value(dense, i, cols, 4 * g + p0);
                vals[i * vr + q + 1] = value(dense, i, cols, 4 * g + p1);
                meta[i * mr + q / 16] |= (p0 | p1 << 2) << (2 * (q % 16));
            }
        return new Sparse24Matrix(rows, cols, vals, meta);
    }

    private static float value(float[] d, int i, int cols, int j) { return j < cols ? d[i * cols + j] : 0f; }

    /**
     * Makes a dense row-major array 2:4 sparse in place by keeping the 2 largest magnitudes of each
     * group of 4 (ties: the lower column); returns it. For benchmarks and quick experiments; the
     * pruning package owns real 2:4 pruning.
     */
    public static float[] keepLargestTwoOfFour(float[] dense, int rows, int cols) {
        for (int i = 0; i < rows; i++)
            for (int j0 = 0; j0 < cols; j0 += 4) {
                int n = Math.min(4, cols - j0), base = i * cols + j0;
                while (countNonzero(dense, base, n) > 2) {
                    int min = -1;
                    for (int p = 0; p < n; p++)
                        if (dense[base + p] != 0 && (min < 0 || Math.abs(dense[base + p]) < Math.abs(dense[base + min]))) min = p;
                    dense[base + min] = 0;
                }
            }
        return dense;
    }

    private static int countNonzero(float[] d, int base, int n) {
        int c = 0;
        for (int p = 0; p < n; p++) if (d[base + p] != 0) c++;
        return c;
    }

    /** Column of stored value q of row i. */
    int column(int i, int q) {
        int vr = valuesPerRow(cols);
        return 4 * (q / 2) + ((meta[i * (vr / 16) + q / 16] >>> (2 * (q % 16))) & 3);
    }

    @Override public String format() { return "2:4"; }
    @Override public long storedValues() { return values.length; }
    @Override public long bytes() { return 4L * values.length + 4L * meta.length; }

    @Override
    public float[] toDenseArray() {
        float[] d = new float[Math.multiplyExact(rows, cols)];
        int vr = valuesPerRow(cols);
        for (int i = 0; i < rows; i++)
            for (int q = 0; q < vr; q++) {
                int j = column(i, q);
                if (j < cols && values[i * vr + q] != 0) d[i * cols + j] = values[i * vr + q];
            }
        return d;
    }

    @Override public int paddedCols() { return 2 * valuesPerRow(cols); }
    @Override public int paddedRows() { return rows; }
    @Override public int units() { return rows; }

    @Override
    public void multiplyBatch(float[] xT, int ldb, float[] yT, int from, int to) {
        Sparse24Kernels.batch(this, xT, ldb, yT, from, to);
    }

    @Override
    public float[] prepareVector(float[] x, int offset) {
        float[] xp = new float[paddedCols()];
        System.arraycopy(x, offset, xp, 0, cols);
        return xp;
    }

    @Override
    public void multiplyVector(float[] x, float[] y, int from, int to) {
        Sparse24Kernels.vector(this, x, y, from, to);
    }

    @Override public String toString() {
        return String.format(java.util.Locale.ROOT, "Sparse24Matrix[%d x %d]", rows, cols);
    }
}
