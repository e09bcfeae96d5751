package dev.kiln.backend.cpu;

import dev.kiln.tensor.Tensor;

/** STUB: to be implemented. */
final class CpuConv {
    private CpuConv() {}

    static void conv2d(Tensor x, Tensor w, Tensor bias, dev.kiln.ops.Conv2dParams p, Tensor out) {
        throw new UnsupportedOperationException("CpuConv: not implemented yet");
    }

    static void pool2d(dev.kiln.ops.PoolOp op, Tensor x, dev.kiln.ops.Pool2dParams p, Tensor out, Tensor indices) {
        throw new UnsupportedOperationException("CpuConv: not implemented yet");
    }
}
