package dev.kiln.ops;

import dev.kiln.tensor.Tensor;

/** STUB (helper A): matmul front end with NumPy semantics, and in-place gemm. */
public final class MatMul {
    private MatMul() {}

    /** NumPy matmul: 1-d promotion, batch broadcasting, F32/F64 (others promoted). */
    public static Tensor matmul(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("matmul: not implemented yet");
    }

    /** c = alpha * op(a) op(b) + beta * c, in place; shapes checked with a clear error. */
    public static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        throw new UnsupportedOperationException("gemm: not implemented yet");
    }
}
