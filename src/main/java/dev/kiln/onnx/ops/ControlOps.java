package dev.kiln.onnx.ops;

/** ONNX ops of the ControlOps family (see {@link OpFamilies}). */
final class ControlOps {
    private ControlOps() {}

    static void register(OpRegistry r) {
    }
}
