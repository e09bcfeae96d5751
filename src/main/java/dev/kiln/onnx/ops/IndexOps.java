package dev.kiln.onnx.ops;

/** ONNX ops of the IndexOps family (see {@link OpFamilies}). */
final class IndexOps {
    private IndexOps() {}

    static void register(OpRegistry r) {
    }
}
