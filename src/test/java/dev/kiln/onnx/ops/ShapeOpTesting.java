package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Builds one-node calls by hand for the shape and index op tests, and checks their outputs. */
final class ShapeOpTesting {
    private ShapeOpTesting() {}

    static OnnxAttribute attr(String name, OnnxAttribute.Type type, float f, long i, byte[] s, Value.TensorValue t,
                              float[] floats, long[] ints) {
        return new OnnxAttribute(name, type, f, i, s, t, null, floats, ints, List.of(), List.of(), List.of(), null);
    }

    static OnnxAttribute i(String name, long v) { return attr(name, OnnxAttribute.Type.INT, 0, v, null, null, null, null); }

    static OnnxAttribute f(String name, float v) { return attr(name, OnnxAttribute.Type.FLOAT, v, 0, null, null, null, null); }

    static OnnxAttribute ints(String name, long... v) { return attr(name, OnnxAttribute.Type.INTS, 0, 0, null, null, null, v); }

    static OnnxAttribute floats(String name, float... v) { return attr(name, OnnxAttribute.Type.FLOATS, 0, 0, null, null, v, null); }

    static OnnxAttribute s(String name, String v) {
        return attr(name, OnnxAttribute.Type.STRING, 0, 0, v.getBytes(java.nio.charset.StandardCharsets.UTF_8), null, null, null);
    }

    static OnnxAttribute t(String name, Value.TensorValue v) { return attr(name, OnnxAttribute.Type.TENSOR, 0, 0, null, v, null, null); }

    static Value.TensorValue f32(float[] data, int... shape) { return Value.of(Tensor.fromArray(data, shape)); }

    static Value.TensorValue i64(long[] data, int... shape) { return Value.of(Tensor.fromArray(data, shape)); }

    /** A tensor of the given ONNX type holding values (widened types stored in their Kiln dtype). */
    static Value.TensorValue typed(ElemType type, double[] data, int... shape) {
        return Value.of(Tensor.fromDoubles(type.storage(), data, shape), type);
    }

    static Value.TensorValue range(int... shape) {
        int n = 1;
        for (int d : shape) n *= d;
        float[] v = new float[n];
        for (int k = 0; k < n; k++) v[k] = k;
        return f32(v, shape);
    }

    /** Runs op (inputs may contain null for omitted optional ones) with nOut outputs. */
    static List<Value> run(String op, int opset, List<Value> inputs, int nOut, OnnxAttribute... attrs) {
        Map<String, OnnxAttribute> am = new LinkedHashMap<>();
        for (OnnxAttribute a : attrs) am.put(a.name(), a);
        List<String> in = new ArrayList<>();
        for (int k = 0; k < inputs.size(); k++) in.add(inputs.get(k) == null ? "" : "x" + k);
        List<String> out = new ArrayList<>();
        for (int k = 0; k < nOut; k++) out.add("y" + k);
        OnnxNode node = new OnnxNode("n", op, "", in, out, am);
        OpCall call = new OpCall(node, inputs, opset, null);
        return OpRegistry.standard().lookup(node, opset).run(call);
    }

    static List<Value> run(String op, int opset, List<Value> inputs, OnnxAttribute... attrs) {
        return run(op, opset, inputs, 1, attrs);
    }

    static Value run1(String op, int opset, List<Value> inputs, OnnxAttribute... attrs) {
        return run(op, opset, inputs, 1, attrs).get(0);
    }

    /** Checks type, shape and values (exact up to 1e-6). */
    static void check(Value v, ElemType type, int[] shape, double... expected) {
        Value.TensorValue tv = (Value.TensorValue) v;
        assertEquals(type, tv.type(), "element type");
        assertArrayEquals(shape, tv.tensor().shape(), "shape " + Arrays.toString(tv.tensor().shape()));
        assertArrayEquals(expected, tv.tensor().toDoubleArray(), 1e-6, "values");
    }

    static void checkLongs(Value v, int[] shape, long... expected) {
        Value.TensorValue tv = (Value.TensorValue) v;
        assertEquals(ElemType.INT64, tv.type(), "element type");
        assertEquals(DType.I64, tv.tensor().dtype());
        assertArrayEquals(shape, tv.tensor().shape(), "shape " + Arrays.toString(tv.tensor().shape()));
        assertArrayEquals(expected, tv.tensor().toLongArray(), "values");
    }

    static int[] shape(int... s) { return s; }

    static double[] seq(int n) {
        double[] d = new double[n];
        for (int k = 0; k < n; k++) d[k] = k;
        return d;
    }
}
