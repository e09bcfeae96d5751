package dev.kiln.onnx.ops;

/** ONNX ops of the NormOps family (see {@link OpFamilies}). */
final class NormOps {
    private NormOps() {}

    static void register(OpRegistry r) {
    }
}
