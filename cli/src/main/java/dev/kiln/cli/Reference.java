package dev.kiln.cli;

import dev.kiln.tensor.Generator;

/**
 * Plain-Java float64 references for the demo's checks: errors are max |kiln - ref| / (1 + |ref|)
 * (absolute near zero, relative for large values) unless stated otherwise.
 */
final class Reference {
    private Reference() {}

    private static double err(double got, double ref) {
        return Double.isNaN(got) ? Double.POSITIVE_INFINITY : Math.abs(got - ref) / (1 + Math.abs(ref));
    }

    /** softmax(relu(x[r] w1 + b1) w2 + b2) in float64; x [*, in], w1 [in, hidden], w2 [hidden, classes]. */
    static double[] mlpRow(float[] x, int r, float[] w1, float[] b1, float[] w2, float[] b2, int in, int hidden, int classes) {
        double[] h = new double[hidden];
        for (int j = 0; j < hidden; j++) {
            double acc = b1[j];
            for (int k = 0; k < in; k++) acc += (double) x[r * in + k] * w1[k * hidden + j];
            h[j] = Math.max(acc, 0);
        }
        double[] logits = new double[classes];
        for (int j = 0; j < classes; j++) {
            double acc = b2[j];
            for (int k = 0; k < hidden; k++) acc += h[k] * w2[k * classes + j];
            logits[j] = acc;
        }
        return softmax(logits);
    }

    static double[] softmax(double[] v) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double d : v) max = Math.max(max, d);
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) sum += out[i] = Math.exp(v[i] - max);
        for (int i = 0; i < v.length; i++) out[i] /= sum;
        return out;
    }

    /** Index of the first maximum of v[off, off+n). */
    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }

    /** Max absolute error of c = a b (n x n, row-major) over `samples` random entries. */
    static double gemmSampleError(float[] a, float[] b, float[] c, int n, int samples, Generator g) {
        double e = 0;
        for (int s = 0; s < samples; s++) {
            int i = g.nextInt(n), j = g.nextInt(n);
            double acc = 0;
            for (int k = 0; k < n; k++) acc += (double) a[i * n + k] * b[k * n + j];
            e = Math.max(e, Double.isNaN(c[i * n + j]) ? Double.POSITIVE_INFINITY : Math.abs(acc - c[i * n + j]));
        }
        return e;
    }

    /** Error of an elementwise op's output over all elements. */
    static double elementwiseError(String op, float[] a, float[] b, float[] out) {
        double e = 0;
        for (int i = 0; i < a.length; i++) {
            double x = a[i], y = b[i];
            double ref = switch (op) {
                case "add" -> x + y;
                case "mul" -> x * y;
                case "exp" -> Math.exp(x);
                case "relu" -> Math.max(x, 0);
                default -> throw new IllegalArgumentException("reference: unknown op " + op);
            };
            e = Math.max(e, err(out[i], ref));
        }
        return e;
    }

    static double sum(float[] v, int off, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += v[off + i];
        return s;
    }

    /** Max relative error of per-row sums of x [rows, cols]. */
    static double rowSumError(float[] x, float[] sums, int rows, int cols) {
        double e = 0;
        for (int r = 0; r < rows; r++) {
            double ref = sum(x, r * cols, cols);
            e = Math.max(e, Double.isNaN(sums[r]) ? Double.POSITIVE_INFINITY : Math.abs(sums[r] - ref) / Math.abs(ref));
        }
        return e;
    }

    /** Max error of a row-wise softmax of x [rows, cols]. */
    static double softmaxError(float[] x, float[] p, int rows, int cols) {
        double e = 0;
        double[] row = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < cols; j++) row[j] = x[r * cols + j];
            double[] ref = softmax(row);
            for (int j = 0; j < cols; j++) e = Math.max(e, err(p[r * cols + j], ref[j]));
        }
        return e;
    }
}
