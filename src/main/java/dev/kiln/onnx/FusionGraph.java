package dev.kiln.onnx;

import java.util.List;

/**
 * What the graph rewrites ({@link GeluFusion}, {@link AttentionFusion}, {@link QuantMatMulFusion})
 * see of the graph {@link GraphOptimizer} is rewriting: its node list (a rewrite sets removed
 * nodes to null) and the producer and use counts the optimizer keeps.
 */
interface FusionGraph {
    List<OnnxNode> nodes();

    /** Index of the default-domain node of opType producing name as its only output, read exactly `uses` times; -1 if not. */
    int producer(String name, String opType, int uses);

    /** Index of the node producing name (any of its outputs), or -1. */
    int producerOf(String name);

    /** How many inputs (and graph outputs) read name. */
    int uses(String name);

    /** Whether name is one of the graph's outputs. */
    boolean isOutput(String name);

    /** Adds delta to name's use count. */
    void use(String name, int delta);

    /** A scalar float constant's value (a one-element initializer or Constant node), or NaN. */
    double scalar(String name);

    /** A constant initializer (not a graph input), or null. */
    Value.TensorValue constant(String name);

    /** Registers that the node at index j now produces name. */
    void produced(String name, int j);

    /** Whether n is the standard (default-domain) op opType. */
    static boolean isDefault(OnnxNode n, String opType) {
        return n.opType().equals(opType) && (n.domain().isEmpty() || n.domain().equals("ai.onnx"));
    }
}
