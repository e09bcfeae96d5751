package dev.kiln.compress.sparse;

import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/** Argument checks and dense-array extraction shared by the format converters. */
final class SparseChecks {
    private SparseChecks() {}

    /** The 2-D tensor's values as a row-major float array, with a clear error for other ranks. */
    static float[] denseArray(Tensor w, String what) {
        if (w == null) throw new IllegalArgumentException(what + ": weight tensor is null");
        if (w.dim() != 2)
            throw new IllegalArgumentException(what + ": expected a 2-D weight [out, in], got shape " + Shape.str(w.shape()));
        return w.toFloatArray();
    }

    /** weight * (mask != 0) as a float array; the mask must have the weight's shape. */
    static float[] masked(Tensor w, Tensor mask, String what) {
        float[] v = denseArray(w, what);
        if (mask == null) return v;
        if (!java.util.Arrays.equals(mask.shape(), w.shape()))
            throw new IllegalArgumentException(what + ": mask shape " + Shape.str(mask.shape())
                    + " differs from weight shape " + Shape.str(w.shape()));
        double[] m = mask.toDoubleArray();
        for (int i = 0; i < v.length; i++) if (m[i] == 0) v[i] = 0f;
        return v;
    }

    static void checkDims(float[] dense, int rows, int cols, String what) {
        if (rows < 0 || cols < 0 || (long) rows * cols != dense.length)
            throw new IllegalArgumentException(what + ": " + dense.length + " values do not make a ["
                    + rows + " x " + cols + "] matrix");
    }

    static int roundUp(int n, int m) { return (n + m - 1) / m * m; }
}
