package dev.kiln.compress.prune;

/**
 * Importance of a neuron / channel for structured pruning: the L1 or L2 norm of its weight row
 * (a Linear row, or a Conv2d filter Cin x kh x kw), or |gamma| of the BatchNorm that follows it
 * (network slimming). The least important units are removed.
 */
public enum Criterion {
    L1, L2, BN_GAMMA;

    public static Criterion parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "l1" -> L1;
            case "l2" -> L2;
            case "bn", "gamma", "bn-gamma", "bn_gamma" -> BN_GAMMA;
            default -> throw new IllegalArgumentException("unknown importance criterion '" + s + "' (l1, l2, bn)");
        };
    }

    /** Norm of each row of a [rows, cols] matrix (L1 or L2). */
    static double[] rowNorms(double[] w, int rows, int cols, boolean l2) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < cols; c++) {
                double v = w[r * cols + c];
                s += l2 ? v * v : Math.abs(v);
            }
            out[r] = l2 ? Math.sqrt(s) : s;
        }
        return out;
    }
}
