package dev.kiln.onnx;

import java.util.List;
import java.util.Map;

/**
 * One {@code GraphProto}: nodes in file order (ONNX requires topological order), declared inputs
 * and outputs, and initializers (constant tensors, also usable as default inputs; a
 * {@link Value.TensorValue} or, for ONNX {@code STRING} tensors, a {@link Value.StringTensorValue}).
 */
public record OnnxGraph(String name, List<OnnxNode> nodes, List<ValueInfo> inputs, List<ValueInfo> outputs,
                        List<ValueInfo> valueInfo, Map<String, Value> initializers) {}
