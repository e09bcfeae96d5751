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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The int8-kernel path of DynamicQuantizeLinear + MatMulInteger (the pattern of ONNX Runtime's
 * quantize_dynamic) gives exactly the float64 reference path's results: quantized activations,
 * scale, zero point and the int32 product, for odd shapes, a rank-3 A, weight zero points of
 * zero, a nonzero scalar and one per column.
 */
class QuantFastTest {
    private final Generator g = new Generator(21);

    @AfterEach
    void restore() { QuantOps.fast = true; }

    private static ValueInfo info(String name, ElemType t) { return new ValueInfo(name, ValueInfo.Kind.TENSOR, t, null, null); }

    /** Runs the graph on x with the fast path on or off; returns the outputs as doubles, in order. */
    private static List<double[]> run(boolean fast, int[] shape, float[] x, byte[] w, int k, int n, int[] zb) {
        QuantOps.fast = fast;
        Map<String, Value> init = new LinkedHashMap<>();
        Tensor wt = Tensor.fromDoubles(DType.I8, toDoubles(w), k, n);
        wt.storage().seal();                                          // a model constant, as the ONNX reader loads it
        init.put("W", Value.of(wt, ElemType.INT8));
        Tensor zt = Tensor.fromDoubles(DType.I8, toDoubles(zb), zb.length == 1 ? new int[0] : new int[]{zb.length});
        init.put("WZ", Value.of(zt, ElemType.INT8));
        List<OnnxNode> nodes = List.of(
                new OnnxNode("dq", "DynamicQuantizeLinear", "", List.of("x"), List.of("xq", "xs", "xz"), Map.of()),
                new OnnxNode("mm", "MatMulInteger", "", List.of("xq", "W", "xz", "WZ"), List.of("y"), Map.of()));
        OnnxGraph graph = new OnnxGraph("q", nodes, List.of(info("x", ElemType.FLOAT)),
                List.of(info("y", ElemType.INT32), info("xq", ElemType.UINT8), info("xs", ElemType.FLOAT), info("xz", ElemType.UINT8)),
                List.of(), init);
        try (OnnxExecutor ex = new OnnxExecutor(new OnnxModel(8, "test", "", Map.of("", 17L), graph));
             Tensor in = Tensor.fromArray(x, shape)) {
            Map<String, Value> out = ex.run(Map.of("x", Value.of(in)));
            List<double[]> r = List.of(out.get("y").tensor().toDoubleArray(), out.get("xq").tensor().toDoubleArray(),
                    out.get("xs").tensor().toDoubleArray(), out.get("xz").tensor().toDoubleArray());
            out.values().forEach(v -> v.tensor().close());
            return r;
        }
    }

    private static double[] toDoubles(byte[] b) {
        double[] d = new double[b.length];
        for (int i = 0; i < b.length; i++) d[i] = b[i];
        return d;
    }

    private static double[] toDoubles(int[] b) {
        double[] d = new double[b.length];
        for (int i = 0; i < b.length; i++) d[i] = b[i];
        return d;
    }

    @Test
    void equalsTheReferencePathExactly() {
        java.util.Random r = new java.util.Random(5);
        for (int[] s : new int[][]{{1, 7, 5}, {2, 9, 33, 17}, {1, 64, 768, 65}}) {
            int[] shape = java.util.Arrays.copyOf(s, s.length - 1);
            int k = shape[shape.length - 1], n = s[s.length - 1];
            int numel = 1;
            for (int d : shape) numel *= d;
            float[] x = Tensor.uniform(g, -3, 2, DType.F32, numel).toFloatArray();
            byte[] w = new byte[k * n];
            for (int i = 0; i < w.length; i++) w[i] = (byte) (r.nextInt(256) - 128);
            int[] perColumn = new int[n];
            for (int j = 0; j < n; j++) perColumn[j] = r.nextInt(7) - 3;
            for (int[] zb : new int[][]{{0}, {-5}, perColumn}) {
                long before = QuantFast.MATMULS.get();
                List<double[]> fast = run(true, shape, x, w, k, n, zb);
                assertEquals(before + 1, QuantFast.MATMULS.get(), "the int8 kernel ran");
                List<double[]> ref = run(false, shape, x, w, k, n, zb);
                for (int o = 0; o < 4; o++) assertArrayEquals(ref.get(o), fast.get(o), "output " + o + " shape " + java.util.Arrays.toString(s));
                assertEquals(numel / k * n, fast.get(0).length);
            }
        }
    }
}
