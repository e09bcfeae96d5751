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
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Builds hand-made ONNX nodes for the NN op tests: attributes, inputs, runs, comparisons. */
final class NnTestSupport {
    private NnTestSupport() {}

    /** Attributes of one node, built fluently. */
    static final class Attrs {
        final Map<String, OnnxAttribute> map = new LinkedHashMap<>();

        Attrs ints(String n, int... v) {
            long[] l = Arrays.stream(v).asLongStream().toArray();
            map.put(n, new OnnxAttribute(n, OnnxAttribute.Type.INTS, 0, 0, null, null, null, null, l, null, null, null, null));
            return this;
        }

        Attrs i(String n, long v) {
            map.put(n, new OnnxAttribute(n, OnnxAttribute.Type.INT, 0, v, null, null, null, null, null, null, null, null, null));
            return this;
        }

        Attrs f(String n, float v) {
            map.put(n, new OnnxAttribute(n, OnnxAttribute.Type.FLOAT, v, 0, null, null, null, null, null, null, null, null, null));
            return this;
        }

        Attrs s(String n, String v) {
            map.put(n, new OnnxAttribute(n, OnnxAttribute.Type.STRING, 0, 0, v.getBytes(StandardCharsets.UTF_8),
                    null, null, null, null, null, null, null, null));
            return this;
        }
    }

    static Attrs attrs() { return new Attrs(); }

    /** Runs op (opset) on the given inputs (null = omitted) asking for {@code outputs} outputs. */
    static List<Value> run(String op, int opset, Attrs a, int outputs, Value... inputs) {
        List<String> inNames = new ArrayList<>();
        List<Value> ins = new ArrayList<>();
        for (int i = 0; i < inputs.length; i++) {
            inNames.add(inputs[i] == null ? "" : "in" + i);
            ins.add(inputs[i]);
        }
        List<String> outNames = new ArrayList<>();
        for (int i = 0; i < outputs; i++) outNames.add("out" + i);
        OnnxNode node = new OnnxNode("t", op, "", inNames, outNames, a.map);
        return OpRegistry.standard().lookup(node, opset).run(new OpCall(node, ins, opset, null));
    }

    static Value.TensorValue run1(String op, int opset, Attrs a, Value... inputs) {
        return (Value.TensorValue) run(op, opset, a, 1, inputs).get(0);
    }

    static Value f32(double[] data, int... shape) { return Value.of(Tensor.fromDoubles(dev.kiln.tensor.DType.F32, data, shape)); }

    static Value typed(ElemType t, double[] data, int... shape) { return Value.of(Tensor.fromDoubles(t.storage(), data, shape), t); }

    static Value i64(long... v) { return Value.of(Tensor.fromArray(v, v.length)); }

    /** Seeded uniform values in [-2, 2], rounded to float precision. */
    static double[] rand(Random r, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = (float) (r.nextDouble() * 4 - 2);
        return d;
    }

    static int numel(int... s) {
        int n = 1;
        for (int v : s) n *= v;
        return n;
    }

    /** Asserts shape, then |got - want| <= tol*(1 + |want|) elementwise. */
    static void assertClose(double[] want, int[] wantShape, Value got, double tol) {
        Tensor t = got.tensor();
        assertArrayEquals(wantShape, t.shape(), "shape");
        double[] g = t.toDoubleArray();
        assertEquals(want.length, g.length);
        for (int i = 0; i < want.length; i++)
            assertTrue(Math.abs(g[i] - want[i]) <= tol * (1 + Math.abs(want[i])),
                    "at " + i + ": got " + g[i] + ", want " + want[i]);
    }

    /** Row-major flat index of coordinate c in shape s. */
    static int flat(int[] c, int[] s) {
        int f = 0;
        for (int i = 0; i < s.length; i++) f = f * s[i] + c[i];
        return f;
    }

    /** Advances an odometer over shape s; false after the last coordinate. */
    static boolean next(int[] c, int[] s) {
        for (int i = s.length - 1; i >= 0; i--) {
            if (++c[i] < s[i]) return true;
            c[i] = 0;
        }
        return false;
    }
}
