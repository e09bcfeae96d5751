package dev.kiln.compress.sparse;

import java.util.SplittableRandom;

/** Seeded random dense matrices with a chosen sparsity and special rows, and a float64 reference. */
final class SparseTestData {
    private SparseTestData() {}

    /** [rows x cols] uniform in [-2, 2], each entry zero with probability sparsity. */
    static float[] random(long seed, int rows, int cols, double sparsity) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] d = new float[rows * cols];
        for (int i = 0; i < d.length; i++) d[i] = r.nextDouble() < sparsity ? 0f : (float) (r.nextDouble() * 4 - 2);
        return d;
    }

    /** Zeroes row `empty` and fills row `full` with nonzeros (when they exist). */
    static float[] withSpecialRows(float[] d, int rows, int cols, int empty, int full) {
        if (empty < rows) java.util.Arrays.fill(d, empty * cols, (empty + 1) * cols, 0f);
        if (full < rows && full != empty) for (int j = 0; j < cols; j++) d[full * cols + j] = 0.5f + j % 3;
        return d;
    }

    /** y [batch x n] = x [batch x k] W^T in float64. */
    static double[] reference(float[] w, int n, int k, float[] x, int batch) {
        double[] y = new double[batch * n];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int j = 0; j < k; j++) s += (double) w[i * k + j] * x[b * k + j];
                y[b * n + i] = s;
            }
        return y;
    }

    /** Largest |got - ref| / (1e-5 * (1 + sum |w||x|)) style check: float32 accumulation of k terms. */
    static void assertClose(double[] ref, float[] got, int k, String what) {
        if (ref.length != got.length) throw new AssertionError(what + ": length " + got.length + " != " + ref.length);
        double tol = 1e-5 * Math.max(1, k) * 4;
        for (int i = 0; i < ref.length; i++)
            if (!(Math.abs(got[i] - ref[i]) <= tol + 1e-5 * Math.abs(ref[i])))
                throw new AssertionError(what + ": element " + i + " got " + got[i] + " expected " + ref[i]);
    }
}
