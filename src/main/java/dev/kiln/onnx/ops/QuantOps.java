package dev.kiln.onnx.ops;

/** ONNX ops of the QuantOps family (see {@link OpFamilies}). */
final class QuantOps {
    private QuantOps() {}

    static void register(OpRegistry r) {
    }
}
