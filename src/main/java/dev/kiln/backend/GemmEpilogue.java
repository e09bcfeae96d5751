package dev.kiln.backend;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.Tensor;

/**
 * What a GEMM applies to its output as it finishes it: {@code c = act(c + bias) + residual}, with
 * bias a vector of c's column count (one value per column, the bias of a Linear layer) or null, act
 * a parameterless unary op (RELU, GELU, GELU_TANH, ...) or null, and residual a tensor of c's shape
 * (a transformer block's skip connection) or null. A backend that fuses it applies it to each block
 * of c while that block is still in cache; the result is the same as the separate ops (the same
 * float roundings in the same order).
 */
public record GemmEpilogue(Tensor bias, UnaryOp activation, Tensor residual) {
    public GemmEpilogue {
        if (bias == null && activation == null && residual == null) throw new IllegalArgumentException("GemmEpilogue: no bias, activation or residual");
        if (bias != null && bias.dim() != 1) throw new IllegalArgumentException("GemmEpilogue: bias must be 1-D, got rank " + bias.dim());
        if (activation == UnaryOp.CLAMP || activation == UnaryOp.POW_SCALAR)
            throw new IllegalArgumentException("GemmEpilogue: " + activation + " takes parameters");
    }

    /** Bias and activation only. */
    public GemmEpilogue(Tensor bias, UnaryOp activation) { this(bias, activation, null); }

    /**
     * The unfused form, for backends without a fused one: c += bias (broadcast over c's rows), then
     * c = act(c), then c += residual, all in place; c is the contiguous output the GEMM just wrote.
     */
    public void applySeparately(Tensor c) {
        if (bias != null) {
            if (bias.size(0) != c.size(-1))
                throw new IllegalArgumentException("GemmEpilogue: bias of " + bias.size(0) + " values for " + c.size(-1) + " columns");
            c.backend().binary(BinaryOp.ADD, c, bias.expand(c.shape()), c);
        }
        if (activation != null) c.backend().unary(activation, c, c, 0, 0);
        if (residual != null) {
            if (!java.util.Arrays.equals(residual.shape(), c.shape()))
                throw new IllegalArgumentException("GemmEpilogue: residual " + java.util.Arrays.toString(residual.shape()) + " for an output "
                        + java.util.Arrays.toString(c.shape()));
            c.backend().binary(BinaryOp.ADD, c, residual, c);
        }
    }
}
