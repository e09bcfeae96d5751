package dev.kiln.data;

import dev.kiln.tensor.Tensor;

/**
 * A batch of examples stacked along a new leading dim: x [B, ...] and y [B, ...]. The consumer owns
 * the batch and closes it when done (try-with-resources), which frees both tensors.
 */
public record Batch(Tensor x, Tensor y) implements AutoCloseable {
    /** Number of examples in the batch. */
    public int size() { return x.size(0); }

    @Override
    public void close() {
        x.close();
        y.close();
    }
}
