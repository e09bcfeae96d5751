package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Test support for the norm, RNN, quantization, signal and training op families: builds a node and
 * an {@link OpCall} by hand, runs the op from the standard registry, and compares results.
 */
final class NormTestKit {
    private NormTestKit() {}

    /** A node under construction: op type, domain, opset, attributes, inputs, output count. */
    static final class Node {
        private final String op;
        private String domain = "";
        private int opset = 17;
        private int outputs = 1;
        private final Map<String, OnnxAttribute> attrs = new LinkedHashMap<>();
        private final List<Value> inputs = new ArrayList<>();

        Node(String op) { this.op = op; }

        Node domain(String d) { domain = d; return this; }
        Node opset(int v) { opset = v; return this; }
        Node outputs(int n) { outputs = n; return this; }

        Node i(String name, long v) { return put(name, OnnxAttribute.Type.INT, 0, v, null, null, null); }
        Node f(String name, double v) { return put(name, OnnxAttribute.Type.FLOAT, (float) v, 0, null, null, null); }
        Node s(String name, String v) {
            return put(name, OnnxAttribute.Type.STRING, 0, 0, v.getBytes(StandardCharsets.UTF_8), null, null);
        }
        Node ints(String name, long... v) { return put(name, OnnxAttribute.Type.INTS, 0, 0, null, null, v); }
        Node floats(String name, float... v) { return put(name, OnnxAttribute.Type.FLOATS, 0, 0, null, v, null); }
        Node strings(String name, String... v) {
            List<byte[]> b = Arrays.stream(v).map(x -> x.getBytes(StandardCharsets.UTF_8)).toList();
            attrs.put(name, new OnnxAttribute(name, OnnxAttribute.Type.STRINGS, 0, 0, null, null, null, null, null, b,
                    null, null, null));
            return this;
        }

        private Node put(String name, OnnxAttribute.Type t, float f, long i, byte[] s, float[] fs, long[] is) {
            attrs.put(name, new OnnxAttribute(name, t, f, i, s, null, null, fs, is, null, null, null, null));
            return this;
        }

        /** Adds inputs in order; null marks an omitted optional input. */
        Node in(Value... vs) { inputs.addAll(Arrays.asList(vs)); return this; }

        List<Value> run() {
            List<String> inNames = new ArrayList<>(), outNames = new ArrayList<>();
            for (int k = 0; k < inputs.size(); k++) inNames.add(inputs.get(k) == null ? "" : "x" + k);
            for (int k = 0; k < outputs; k++) outNames.add("y" + k);
            OnnxNode node = new OnnxNode("n", op, domain, inNames, outNames, attrs);
            OpCall call = new OpCall(node, inputs, opset, (g, v) -> { throw new UnsupportedOperationException(); });
            return OpRegistry.standard().lookup(node, opset).run(call);
        }

        /** Closes every input tensor (for leak checks). */
        void closeInputs() {
            for (Value v : inputs) if (v != null) v.tensor().close();
        }

        /** Runs and returns output {@code k} as a tensor value. */
        Value.TensorValue run(int k) { return (Value.TensorValue) run().get(k); }
    }

    static Node op(String type) { return new Node(type); }

    static Value f32(double[] v, int... shape) { return NormArrays.value(v, ElemType.FLOAT, shape); }

    static Value typed(ElemType t, double[] v, int... shape) { return NormArrays.value(v, t, shape); }

    static Value i64(long... v) { return NormArrays.value(v, ElemType.INT64, v.length); }

    static Value scalar(double v, ElemType t) { return NormArrays.value(new double[]{v}, t); }

    /** Deterministic pseudo-random values in [-1, 1). */
    static double[] values(int n, int seed) {
        double[] v = new double[n];
        long s = seed * 2654435761L + 12345;
        for (int i = 0; i < n; i++) {
            s = s * 6364136223846793005L + 1442695040888963407L;
            v[i] = ((s >>> 11) / (double) (1L << 53)) * 2 - 1;
        }
        return v;
    }

    static void assertClose(double[] expected, Tensor got, double tol) {
        double[] g = got.toDoubleArray();
        assertEquals(expected.length, g.length, "element count");
        for (int i = 0; i < g.length; i++)
            assertTrue(Math.abs(g[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])),
                    "element " + i + ": got " + g[i] + " expected " + expected[i]);
    }

    static void assertShape(Value v, ElemType type, int... shape) {
        Value.TensorValue tv = (Value.TensorValue) v;
        assertEquals(type, tv.type());
        assertArrayEquals(shape, tv.tensor().shape());
    }
}
