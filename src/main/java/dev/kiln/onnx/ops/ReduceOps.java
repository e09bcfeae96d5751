package dev.kiln.onnx.ops;

/** ONNX ops of the ReduceOps family (see {@link OpFamilies}). */
final class ReduceOps {
    private ReduceOps() {}

    static void register(OpRegistry r) {
    }
}
