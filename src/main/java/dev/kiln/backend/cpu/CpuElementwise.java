package dev.kiln.backend.cpu;

import dev.kiln.tensor.Tensor;

/** STUB: to be implemented. */
final class CpuElementwise {
    private CpuElementwise() {}

    static void unary(dev.kiln.ops.UnaryOp op, Tensor x, Tensor out, double a, double b) {
        throw new UnsupportedOperationException("CpuElementwise: not implemented yet");
    }

    static void binary(dev.kiln.ops.BinaryOp op, Tensor a, Tensor b, Tensor out) {
        throw new UnsupportedOperationException("CpuElementwise: not implemented yet");
    }

    static void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        throw new UnsupportedOperationException("CpuElementwise: not implemented yet");
    }
}
