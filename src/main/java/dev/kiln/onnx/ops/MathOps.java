package dev.kiln.onnx.ops;

/** ONNX ops of the MathOps family (see {@link OpFamilies}). */
final class MathOps {
    private MathOps() {}

    static void register(OpRegistry r) {
    }
}
