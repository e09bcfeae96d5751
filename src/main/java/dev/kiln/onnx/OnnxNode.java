package dev.kiln.onnx;

import java.util.List;
import java.util.Map;

/**
 * One {@code NodeProto}. An empty string in {@code inputs} marks an omitted optional input.
 * {@code domain} is "" for the default ai.onnx domain.
 */
public record OnnxNode(String name, String opType, String domain, List<String> inputs, List<String> outputs,
                       Map<String, OnnxAttribute> attributes) {

    /** "Conv 'conv1'" (or just the op type when the node has no name), for error messages. */
    public String describe() {
        String d = domain.isEmpty() || domain.equals("ai.onnx") ? opType : domain + "." + opType;
        return name.isEmpty() ? d : d + " '" + name + "'";
    }
}
