package dev.kiln.onnx;

import java.util.Map;

/**
 * One {@code ModelProto}. {@code opsets} maps an operator-set domain ("" = ai.onnx) to its version.
 */
public record OnnxModel(long irVersion, String producerName, String producerVersion, Map<String, Long> opsets,
                        OnnxGraph graph) {

    /** The ai.onnx opset version this model imports (1 if it imports none). */
    public int opset() {
        Long v = opsets.get("");
        if (v == null) v = opsets.get("ai.onnx");
        return v == null ? 1 : Math.toIntExact(v);
    }
}
