package dev.kiln.onnx.ops;

/** ONNX ops of the ShapeOps family (see {@link OpFamilies}). */
final class ShapeOps {
    private ShapeOps() {}

    static void register(OpRegistry r) {
    }
}
