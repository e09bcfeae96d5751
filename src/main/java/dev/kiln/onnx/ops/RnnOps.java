package dev.kiln.onnx.ops;

/** ONNX ops of the RnnOps family (see {@link OpFamilies}). */
final class RnnOps {
    private RnnOps() {}

    static void register(OpRegistry r) {
    }
}
