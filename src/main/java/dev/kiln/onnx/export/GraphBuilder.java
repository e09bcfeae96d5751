package dev.kiln.onnx.export;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Collects an ONNX graph while the exporter walks a module: nodes, initializers (float32, int8 or
 * int64 raw little-endian data), graph inputs and outputs. Value names are unique; {@link #fresh} makes
 * one from a hint ("0.weight", "self_attn/q"). {@link ModelEncoder} turns the result into bytes.
 */
final class GraphBuilder {
    /** TensorProto.DataType codes used here. */
    static final int FLOAT = 1, INT8 = 3, INT64 = 7;

    record Node(String opType, String name, List<String> inputs, List<String> outputs, List<OnnxAttr> attrs) {}

    record Initializer(String name, int dataType, long[] dims, byte[] raw) {}

    /** A graph input/output; a dim is a Long (fixed) or a String (symbolic, e.g. "batch"). */
    record Io(String name, int elemType, List<Object> dims) {}

    final List<Node> nodes = new ArrayList<>();
    final List<Initializer> initializers = new ArrayList<>();
    final List<Io> inputs = new ArrayList<>();
    final List<Io> outputs = new ArrayList<>();
    private final Set<String> names = new HashSet<>();

    /** A name not used yet: the hint itself, else hint_1, hint_2, ... */
    String fresh(String hint) {
        String n = hint;
        for (int k = 1; !names.add(n); k++) n = hint + "_" + k;
        return n;
    }

    void input(String name, List<Object> dims) { inputs.add(new Io(name, FLOAT, dims)); }

    void output(String name, List<Object> dims) { outputs.add(new Io(name, FLOAT, dims)); }

    /** A float32 initializer holding t's values (converted to float32, any layout). */
    String initializer(String hint, Tensor t) {
        float[] v = t.toFloatArray(); // logical row-major order, any strides
        long[] dims = Arrays.stream(t.shape()).asLongStream().toArray();
        return floatInitializer(hint, v, dims);
    }

    String floatInitializer(String hint, float[] v, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        String n = fresh(hint);
        initializers.add(new Initializer(n, FLOAT, dims, b.array()));
        return n;
    }

    /** A 0-d float32 constant (for broadcasting arithmetic). */
    String scalar(String hint, double v) { return floatInitializer(hint, new float[]{(float) v}); }

    /** A 1-d int64 initializer (shapes, axes). */
    String int64s(String hint, long... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(v);
        String n = fresh(hint);
        initializers.add(new Initializer(n, INT64, new long[]{v.length}, b.array()));
        return n;
    }

    /** An int8 initializer (quantized weights, zero points) of the given shape. */
    String int8s(String hint, byte[] v, long... dims) {
        String n = fresh(hint);
        initializers.add(new Initializer(n, INT8, dims, v.clone()));
        return n;
    }

    /** Adds a one-output node and returns its output's name (made from outHint). */
    String op(String opType, String outHint, List<String> in, OnnxAttr... attrs) {
        String out = fresh(outHint);
        nodes.add(new Node(opType, fresh("n:" + outHint), List.copyOf(in), List.of(out), List.of(attrs)));
        return out;
    }

    String op(String opType, String outHint, String a, OnnxAttr... attrs) { return op(opType, outHint, List.of(a), attrs); }

    String op(String opType, String outHint, String a, String b, OnnxAttr... attrs) { return op(opType, outHint, List.of(a, b), attrs); }

    /** Requires a float tensor (the exporter writes float32 graphs). */
    static void checkFloat(String what, Tensor t) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.F64 && t.dtype() != DType.F16 && t.dtype() != DType.BF16)
            throw new IllegalArgumentException("ONNX export: " + what + " has dtype " + t.dtype() + ", expected a float type");
    }
}
