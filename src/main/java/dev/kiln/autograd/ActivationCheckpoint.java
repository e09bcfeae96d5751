package dev.kiln.autograd;

import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.function.UnaryOperator;

/**
 * Activation checkpointing (torch.utils.checkpoint): {@code y = block(x)} runs without recording
 * the graph, so none of the block's intermediate activations are kept; the backward pass runs the
 * block again from x with recording on and backpropagates y's gradient through that copy, which
 * also accumulates the gradients of the block's parameters. Memory: one block's activations at a
 * time instead of all of them, for a second forward of each block.
 *
 * <p>The generators passed in (the block's dropout, say) are snapshotted before the forward and
 * replayed during the recomputation, then set back to where the forward left them, so the
 * recomputed block draws the same masks and the rest of training the same stream: with or without
 * checkpointing the values and gradients are the same, bit for bit (tested).
 */
public final class ActivationCheckpoint {
    private ActivationCheckpoint() {}

    public static Tensor apply(UnaryOperator<Tensor> block, Tensor x, Generator... rngs) {
        if (!GradMode.isEnabled()) return block.apply(x);
        Generator[] before = new Generator[rngs.length];
        for (int i = 0; i < rngs.length; i++) before[i] = rngs[i].snapshot();
        Tensor y;
        try (GradMode.Guard g = GradMode.noGrad(); Scope s = Scope.open()) {    // the block's temporaries end here
            y = s.keep(block.apply(x));
        }
        return y.setGradFn(new Node("Checkpoint", x.requiresGrad() ? x : null) {
            @Override
            protected Tensor[] backward(Tensor gy) {
                Generator[] after = new Generator[rngs.length];
                for (int i = 0; i < rngs.length; i++) {
                    after[i] = rngs[i].snapshot();
                    rngs[i].restore(before[i]);
                }
                Tensor xd = x.detach();                                      // x lives in the forward's scope until after backward
                xd.requiresGrad(true);
                Tensor out;
                try (GradMode.Guard on = GradMode.enableGrad()) {
                    out = block.apply(xd);
                } finally {
                    for (int i = 0; i < rngs.length; i++) rngs[i].restore(after[i]);
                }
                Engine.backward(out, gy, false);
                Tensor gx = xd.grad() == null ? null : xd.grad().clone();   // owned by this rule's scope; the engine keeps it
                xd.zeroGrad();
                return new Tensor[]{gx};
            }
        });
    }
}
