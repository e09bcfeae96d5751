package dev.kiln.dist;

import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.tensor.Tensor;

/**
 * The tensor-parallel MLP block (Megatron): fc1 column-parallel (each rank computes hidden/p of the
 * hidden units), the activation applied to that slice (elementwise, so no communication), fc2
 * row-parallel (partial outputs all-reduced). One all-reduce in forward (fc2's output) and one in
 * backward (the input gradient); the hidden activations never leave their rank.
 */
public final class TensorParallelMlp extends Module {
    /** The activation between the two layers. */
    public enum Act { RELU, GELU, GELU_TANH }

    private final ColumnParallelLinear fc1;
    private final RowParallelLinear fc2;
    private final Act act;

    private TensorParallelMlp(ColumnParallelLinear fc1, Act act, RowParallelLinear fc2) {
        this.fc1 = registerModule("fc1", fc1);
        this.fc2 = registerModule("fc2", fc2);
        this.act = act;
    }

    /** This rank's block from a full fc1 [hidden, in] and fc2 [out, hidden] (hidden must divide by the group size). */
    public static TensorParallelMlp fromFull(Linear fc1, Act act, Linear fc2, ProcessGroup pg) {
        if (fc2.inFeatures != fc1.outFeatures)
            throw new IllegalArgumentException("TensorParallelMlp: fc1 has " + fc1.outFeatures + " outputs but fc2 takes " + fc2.inFeatures);
        return new TensorParallelMlp(ColumnParallelLinear.fromFull(fc1, pg, false), act, RowParallelLinear.fromFull(fc2, pg, true));
    }

    public ColumnParallelLinear fc1() { return fc1; }
    public RowParallelLinear fc2() { return fc2; }

    /** x [..., in] (the same on every rank) -> [..., out] (the same on every rank). */
    @Override
    public Tensor forward(Tensor x) {
        Tensor h = fc1.forward(x);
        h = switch (act) {
            case RELU -> h.relu();
            case GELU -> h.gelu();
            case GELU_TANH -> h.geluTanh();
        };
        return fc2.forward(h);
    }

    @Override protected String extraRepr() { return "act=" + act; }
}
