package dev.kiln.data;

import dev.kiln.tensor.Tensor;

/** One example of a {@link Dataset}: input x and target y. The caller owns (closes) both. */
public record Example(Tensor x, Tensor y) implements AutoCloseable {
    @Override
    public void close() {
        x.close();
        y.close();
    }
}
