package dev.kiln.onnx.ops;

/** ONNX ops of the NnOps family (see {@link OpFamilies}). */
final class NnOps {
    private NnOps() {}

    static void register(OpRegistry r) {
    }
}
