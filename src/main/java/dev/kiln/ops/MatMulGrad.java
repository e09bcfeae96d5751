package dev.kiln.ops;

import dev.kiln.autograd.Grad;
import dev.kiln.autograd.Node;
import dev.kiln.tensor.Tensor;

/**
 * Gradient of NumPy-style matmul (forward in {@link MatMul}): with 1-d operands promoted to
 * matrices, dA = g B^T and dB = A^T g, summed over broadcast batch dims.
 */
final class MatMulGrad {
    private MatMulGrad() {}

    static Node matmul(Tensor a, Tensor b) {
        return new Node("matmul", a, b) {
            @Override protected Tensor[] backward(Tensor g) {
                Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
                Tensor b2 = b.dim() == 1 ? b.unsqueeze(-1) : b;
                Tensor g2 = g;
                if (a.dim() == 1) g2 = g2.unsqueeze(b.dim() == 1 ? 0 : -2);
                if (b.dim() == 1) g2 = g2.unsqueeze(-1);
                Tensor ga = null, gb = null;
                if (a.requiresGrad()) {
                    ga = Grad.sumTo(g2.matmul(b2.transpose(-1, -2)), a2.shape()).reshape(a.shape());
                    if (ga.dtype() != a.dtype()) ga = ga.to(a.dtype());
                }
                if (b.requiresGrad()) {
                    gb = Grad.sumTo(a2.transpose(-1, -2).matmul(g2), b2.shape()).reshape(b.shape());
                    if (gb.dtype() != b.dtype()) gb = gb.to(b.dtype());
                }
                return new Tensor[]{ga, gb};
            }
        };
    }
}
