package dev.kiln.backend.cpu;

import dev.kiln.tensor.Tensor;

/** STUB: to be implemented. */
final class CpuReduce {
    private CpuReduce() {}

    static void reduce(dev.kiln.ops.ReduceOp op, Tensor x, int[] axes, Tensor out, double param) {
        throw new UnsupportedOperationException("CpuReduce: not implemented yet");
    }

    static void softmax(Tensor x, int axis, boolean log, Tensor out) {
        throw new UnsupportedOperationException("CpuReduce: not implemented yet");
    }

    static void layerNorm(Tensor x, Tensor w, Tensor b, int normalizedDims, double eps, Tensor out) {
        throw new UnsupportedOperationException("CpuReduce: not implemented yet");
    }
}
