package dev.kiln.compress.quant;

import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The calibration observers:
 * <ul>
 *   <li>{@link MinMax}: the running min and max of everything seen;</li>
 *   <li>{@link MovingAverage}: exponential moving averages of each batch's min and max (the first
 *       batch sets them), the usual observer for QAT activations;</li>
 *   <li>{@link Percentile}: the p-th and (100-p)-th percentiles of the values seen (outliers
 *       clipped);</li>
 *   <li>{@link Mse}: the clipping range, a shrink factor t of the min-max range, that minimizes
 *       the mean squared quantize-dequantize error over the values seen (grid search over t).</li>
 * </ul>
 * The last two keep a uniform reservoir sample of at most {@link Sampled#CAPACITY} values.
 */
public final class Observers {
    private Observers() {}

    /** Running min/max. */
    public static final class MinMax implements Observer {
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;

        @Override public void observe(Tensor x) {
            double[][] mm = QParams.channelMinMax(x, -1);
            min = Math.min(min, mm[0][0]);
            max = Math.max(max, mm[1][0]);
        }

        @Override public double[] range() { return min > max ? new double[]{0, 0} : new double[]{min, max}; }
    }

    /** Moving averages of the per-batch min and max: m += momentum * (batch - m). */
    public static final class MovingAverage implements Observer {
        private final double momentum;
        private double min, max;
        private boolean seen;

        public MovingAverage(double momentum) { this.momentum = momentum; }

        @Override public void observe(Tensor x) {
            double[][] mm = QParams.channelMinMax(x, -1);
            if (!seen) { min = mm[0][0]; max = mm[1][0]; seen = true; return; }
            min += momentum * (mm[0][0] - min);
            max += momentum * (mm[1][0] - max);
        }

        @Override public double[] range() { return seen ? new double[]{min, max} : new double[]{0, 0}; }
    }

    /** Base of the observers that need the distribution: a reservoir sample of the values. */
    public abstract static class Sampled implements Observer {
        public static final int CAPACITY = 1 << 18;
        private final SplittableRandom rnd = new SplittableRandom(1234);
        private float[] sample = new float[1024];
        private int size;
        private long seen;

        @Override public void observe(Tensor x) {
            for (float v : x.toFloatArray()) add(v);
        }

        private void add(float v) {
            seen++;
            if (size < CAPACITY) {
                if (size == sample.length) sample = Arrays.copyOf(sample, Math.min(CAPACITY, size * 2));
                sample[size++] = v;
            } else {
                long j = rnd.nextLong(seen);
                if (j < CAPACITY) sample[(int) j] = v;
            }
        }

        /** The sampled values, sorted. */
        protected float[] sorted() {
            float[] s = Arrays.copyOf(sample, size);
            Arrays.sort(s);
            return s;
        }
    }

    /** Clips to the [100 - p, p] percentiles (p in (50, 100]). */
    public static final class Percentile extends Sampled {
        private final double p;

        public Percentile(double p) {
            if (!(p > 50 && p <= 100)) throw new IllegalArgumentException("percentile observer: p must be in (50, 100], got " + p);
            this.p = p;
        }

        @Override public double[] range() {
            float[] s = sorted();
            if (s.length == 0) return new double[]{0, 0};
            return new double[]{quantile(s, 1 - p / 100), quantile(s, p / 100)};
        }

        /** Linear interpolation between order statistics. */
        static double quantile(float[] s, double q) {
            double pos = q * (s.length - 1);
            int lo = (int) Math.floor(pos), hi = Math.min(s.length - 1, lo + 1);
            return s[lo] + (pos - lo) * (s[hi] - s[lo]);
        }
    }

    /** Minimizes the quantization MSE over clipping ranges t * [min, max], t in (0, 1]. */
    public static final class Mse extends Sampled {
        public static final int STEPS = 100;

        /** The best asymmetric range. */
        @Override public double[] range() { return search(false); }

        /** Searches for the scheme that will be used (symmetric or not). */
        @Override public QParams qparams(boolean symmetric) {
            double[] r = search(symmetric);
            return QParams.fromRange(r[0], r[1], symmetric);
        }

        private double[] search(boolean symmetric) {
            float[] s = thin(sorted(), 1 << 16);
            if (s.length == 0) return new double[]{0, 0};
            double min = Math.min(0, s[0]), max = Math.max(0, s[s.length - 1]);
            double best = Double.POSITIVE_INFINITY, bestT = 1;
            for (int k = STEPS; k >= 1; k--) {
                double t = k / (double) STEPS;
                if (min == 0 && max == 0) break;
                double err = mse(s, QParams.fromRange(min * t, max * t, symmetric));
                if (err < best) { best = err; bestT = t; }
            }
            return new double[]{min * bestT, max * bestT};
        }

        /** Every k-th value of a sorted array so that at most max remain (keeps both extremes). */
        private static float[] thin(float[] s, int max) {
            if (s.length <= max) return s;
            float[] t = new float[max];
            for (int i = 0; i < max; i++) t[i] = s[(int) ((long) i * (s.length - 1) / (max - 1))];
            return t;
        }

        static double mse(float[] s, QParams q) {
            double e = 0;
            for (float v : s) {
                double d = v - q.scale0() * (q.quantizeOne(v, 0) - q.zero0());
                e += d * d;
            }
            return e / s.length;
        }
    }
}
