package dev.kiln.compress.fuse;

import dev.kiln.nn.Activation;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.Tensor;

/**
 * The elementwise step fused after a GEMM or convolution (the bias is already added by the
 * linear/conv op itself, which writes the bias into the output before accumulating onto it).
 * <p>
 * The engine has no GEMM epilogue API yet, so {@link #finish} applies the activation in place on
 * the freshly produced output with one extra pass over it (no new tensor, no second allocation).
 * This is the single place a real epilogue would plug in: when the backend's gemm/conv can apply
 * an activation while the output tile is still in registers, {@code FusedLinear} and
 * {@code FusedConv2d} pass their epilogue to it and skip {@link #finish}.
 */
public enum Epilogue {
    NONE("none", null),
    RELU("relu", UnaryOp.RELU),
    GELU("gelu", UnaryOp.GELU),
    GELU_TANH("gelu_tanh", UnaryOp.GELU_TANH),
    SILU("silu", UnaryOp.SILU),
    TANH("tanh", UnaryOp.TANH),
    SIGMOID("sigmoid", UnaryOp.SIGMOID);

    private final String id;
    private final UnaryOp op;

    Epilogue(String id, UnaryOp op) {
        this.id = id;
        this.op = op;
    }

    /** The name used in architecture descriptions ("relu", "none", ...). */
    public String id() { return id; }

    /** The engine op, or null for NONE. */
    public UnaryOp op() { return op; }

    public static Epilogue byId(String id) {
        for (Epilogue e : values()) if (e.id.equals(id)) return e;
        throw new IllegalArgumentException("fuse: unknown epilogue '" + id + "'");
    }

    /** The epilogue equivalent to an activation layer, or null when it is not a fusable activation. */
    public static Epilogue of(Activation a) {
        return switch (a.kind()) {
            case "ReLU" -> RELU;
            case "GELU" -> GELU;
            case "GELU(tanh)" -> GELU_TANH;
            case "SiLU" -> SILU;
            case "Tanh" -> TANH;
            case "Sigmoid" -> SIGMOID;
            default -> null;
        };
    }

    /**
     * Applies the activation to a freshly produced output y that no one else references: in place
     * when y is not part of an autograd graph, else out of place (so gradients stay correct).
     */
    public Tensor finish(Tensor y) {
        if (op == null) return y;
        if (y.requiresGrad()) return dev.kiln.ops.Elementwise.unary(op, y, 0, 0);
        y.backend().unary(op, y, y, 0, 0);
        return y;
    }
}
