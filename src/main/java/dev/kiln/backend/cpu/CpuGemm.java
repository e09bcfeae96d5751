package dev.kiln.backend.cpu;

import dev.kiln.tensor.Tensor;

/** STUB: to be implemented. */
final class CpuGemm {
    private CpuGemm() {}

    static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        throw new UnsupportedOperationException("CpuGemm: not implemented yet");
    }
}
