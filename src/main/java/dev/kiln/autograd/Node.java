package dev.kiln.autograd;

import dev.kiln.tensor.Tensor;

/**
 * One recorded op in the autograd graph. {@link #inputs} are the op's tensor inputs (null where an
 * input needs no gradient); {@link #backward} maps the gradient of the op's output to gradients of
 * its inputs (null entries allowed). Gradient rules live next to their op in {@code dev.kiln.ops}.
 */
public abstract class Node {
    private final String name;
    final Tensor[] inputs;

    protected Node(String name, Tensor... inputs) {
        this.name = name;
        this.inputs = inputs;
    }

    public String name() { return name; }

    /**
     * Gradients w.r.t. each input, given the gradient of the output. Results must have the input's
     * shape (use {@link Grad#sumTo} after broadcasting ops). Returned tensors are owned by the engine.
     */
    protected abstract Tensor[] backward(Tensor gradOutput);

    /** Frees saved tensors once the backward pass no longer needs them. */
    protected void release() {}

    @Override public String toString() { return name + "Backward"; }
}
