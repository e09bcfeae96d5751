package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxGraph;
import dev.kiln.onnx.OnnxModel;
import dev.kiln.onnx.OnnxNode;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * FakeQuant (a QDQ model's QuantizeLinear -> DequantizeLinear in one float pass) gives exactly
 * the two reference ops' results, vector and scalar, for uint8 and int8 codes: ties to even,
 * saturation, NaN (code 0) and infinities, and an odd length (vector body and scalar tail).
 */
class QuantFakeTest {
    private static ValueInfo info(String name, ElemType t) { return new ValueInfo(name, ValueInfo.Kind.TENSOR, t, null, null); }

    @Test
    void matchesQuantizeThenDequantizeBitForBit() {
        Generator g = new Generator(5);
        for (ElemType t : new ElemType[]{ElemType.UINT8, ElemType.INT8}) {
            float scale = 0.037f, zp = t == ElemType.UINT8 ? 121 : -7;
            float[] x = Tensor.uniform(g, -12, 12, DType.F32, 1001).toFloatArray();
            float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 1e30f, -1e30f,
                    2.5f * scale, -2.5f * scale, 3.5f * scale, 0.5f * scale, -0.5f * scale, 1e-40f};
            System.arraycopy(special, 0, x, 0, special.length);
            for (int i = 20; i < 60; i++) x[i] = (i - 40 + 0.5f) * scale;   // halfway between codes (as float division gives them)
            float[] want = reference(x, scale, zp, t);
            for (boolean vector : new boolean[]{true, false}) {
                try (Tensor xt = Tensor.fromArray(x, x.length); Tensor y = Tensor.zeros(DType.F32, x.length)) {
                    QuantFake.apply(xt.segment(), xt.offset(), y.segment(), y.offset(), x.length, scale, zp, (float) t.minValue(), (float) t.maxValue(), vector);
                    float[] got = y.toFloatArray();
                    for (int i = 0; i < x.length; i++)
                        assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), t + (vector ? " vector" : " scalar") + " x=" + x[i] + ": " + want[i] + " vs " + got[i]);
                }
            }
        }
    }

    /** QuantizeLinear then DequantizeLinear as the registry's reference ops compute them (called directly, no optimizer). */
    private static float[] reference(float[] x, float scale, float zp, ElemType t) {
        OpRegistry r = OpRegistry.standard();
        Value s = Value.of(Tensor.fromArray(new float[]{scale})), z = Value.of(Tensor.fromDoubles(t.storage(), new double[]{zp}), t);
        OnnxNode qn = new OnnxNode("q", "QuantizeLinear", "", List.of("x", "s", "z"), List.of("q"), Map.of());
        OnnxNode dn = new OnnxNode("dq", "DequantizeLinear", "", List.of("q", "s", "z"), List.of("y"), Map.of());
        try (Tensor in = Tensor.fromArray(x, x.length)) {
            Value q = r.lookup(qn, 17).run(new OpCall(qn, List.of(Value.of(in), s, z), 17, null)).get(0);
            Value y = r.lookup(dn, 17).run(new OpCall(dn, List.of(q, s, z), 17, null)).get(0);
            float[] out = y.tensor().toFloatArray();
            q.tensor().close();
            y.tensor().close();
            return out;
        }
    }

    @Test
    void optimizedQdqGraphRunsFakeQuant() {
        float[] x = {-3f, -0.01f, 0f, 0.0185f, 0.5f, 7.9f, Float.NaN};
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("s", Value.of(Tensor.fromArray(new float[]{0.037f})));
        init.put("z", Value.of(Tensor.fromDoubles(DType.I32, new double[]{121}), ElemType.UINT8));
        List<OnnxNode> nodes = List.of(new OnnxNode("q", "QuantizeLinear", "", List.of("x", "s", "z"), List.of("q"), Map.of()),
                new OnnxNode("dq", "DequantizeLinear", "", List.of("q", "s", "z"), List.of("y"), Map.of()));
        OnnxGraph graph = new OnnxGraph("qdq", nodes, List.of(info("x", ElemType.FLOAT)), List.of(info("y", ElemType.FLOAT)), List.of(), init);
        try (OnnxExecutor ex = new OnnxExecutor(new OnnxModel(8, "test", "", Map.of("", 17L), graph));
             Tensor in = Tensor.fromArray(x, x.length)) {
            Map<String, Value> out = ex.run(Map.of("x", Value.of(in)));
            assertArrayEquals(reference(x, 0.037f, 121, ElemType.UINT8), out.get("y").tensor().toFloatArray());
            out.values().forEach(v -> v.tensor().close());
        }
    }
}
