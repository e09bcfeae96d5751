package dev.kiln.ops;

import dev.kiln.tensor.Tensor;

/** STUB (helper C): conv2d and pooling front ends (shape rules, checks, output allocation). */
public final class Conv {
    private Conv() {}

    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, Conv2dParams p) {
        throw new UnsupportedOperationException("conv2d: not implemented yet");
    }

    public static Tensor pool2d(PoolOp op, Tensor x, Pool2dParams p) {
        throw new UnsupportedOperationException("pool2d: not implemented yet");
    }
}
