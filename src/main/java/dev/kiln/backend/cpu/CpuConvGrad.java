package dev.kiln.backend.cpu;

import dev.kiln.ops.Conv2dParams;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.tensor.Tensor;

/** STUB (helper): conv2d and pool2d backward kernels. */
final class CpuConvGrad {
    private CpuConvGrad() {}

    static void backwardInput(Tensor gy, Tensor w, Conv2dParams p, Tensor gx) {
        throw new UnsupportedOperationException("conv2d backward (input): not implemented yet");
    }

    static void backwardWeight(Tensor x, Tensor gy, Conv2dParams p, Tensor gw) {
        throw new UnsupportedOperationException("conv2d backward (weight): not implemented yet");
    }

    static void poolBackward(PoolOp op, Tensor gy, Tensor indices, Pool2dParams p, Tensor gx) {
        throw new UnsupportedOperationException("pool2d backward: not implemented yet");
    }
}
