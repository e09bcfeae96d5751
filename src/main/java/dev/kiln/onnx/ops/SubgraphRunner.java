package dev.kiln.onnx.ops;

import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.Value;

import java.util.List;

/**
 * Runs a subgraph (the body of If/Loop/Scan, SequenceMap): binds {@code inputs} to the subgraph's
 * declared inputs in order, resolves other names from the enclosing scopes, and returns the
 * subgraph's outputs in order. Implemented by the executor.
 */
@FunctionalInterface
public interface SubgraphRunner {
    List<Value> run(OnnxGraph graph, List<Value> inputs);
}
