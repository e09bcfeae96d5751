package dev.kiln.onnx.ops;

/** ONNX ops of the SignalOps family (see {@link OpFamilies}). */
final class SignalOps {
    private SignalOps() {}

    static void register(OpRegistry r) {
    }
}
