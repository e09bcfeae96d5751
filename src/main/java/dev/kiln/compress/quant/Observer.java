package dev.kiln.compress.quant;

import dev.kiln.tensor.Tensor;

/**
 * Calibration observer: sees activation (or weight) tensors and proposes per-tensor quantization
 * parameters for them. Implementations are in {@link Observers}; {@link Kind} names them for the
 * quantization flows.
 */
public interface Observer {
    /** Records the values of x (any shape, float). */
    void observe(Tensor x);

    /** The clipping range [lo, hi] chosen from what was observed. */
    double[] range();

    /** Per-tensor parameters for the chosen range. */
    default QParams qparams(boolean symmetric) {
        double[] r = range();
        return QParams.fromRange(r[0], r[1], symmetric);
    }

    /** The observer kinds. */
    enum Kind {
        MINMAX, MOVING_AVERAGE, PERCENTILE, MSE;

        public Observer create() {
            return switch (this) {
                case MINMAX -> new Observers.MinMax();
                case MOVING_AVERAGE -> new Observers.MovingAverage(0.01);
                case PERCENTILE -> new Observers.Percentile(99.99);
                case MSE -> new Observers.Mse();
            };
        }
    }
}
