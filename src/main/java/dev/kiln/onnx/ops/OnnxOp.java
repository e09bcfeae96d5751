package dev.kiln.onnx.ops;

import dev.kiln.onnx.Value;

import java.util.List;

/**
 * The implementation of one ONNX operator. It reads its inputs and attributes through the
 * {@link OpCall} and returns one value per node output it produces (trailing optional outputs the
 * node does not name may be left out). It must not close its inputs; it may return a view of one.
 */
@FunctionalInterface
public interface OnnxOp {
    List<Value> run(OpCall call);
}
