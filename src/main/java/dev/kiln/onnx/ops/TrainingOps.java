package dev.kiln.onnx.ops;

/** ONNX ops of the TrainingOps family (see {@link OpFamilies}). */
final class TrainingOps {
    private TrainingOps() {}

    static void register(OpRegistry r) {
    }
}
