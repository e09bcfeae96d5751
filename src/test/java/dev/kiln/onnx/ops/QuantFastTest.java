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
 * scale, zero point and the int32 product, for odd shapes, a rank-3 A, an A whose range pass
 * spans two blocks, weight zero points of zero, a nonzero scalar and one per column.
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
        // the last: 76,800 floats, so the range pass runs as two blocks (QuantFast.range)
        for (int[] s : new int[][]{{1, 7, 5}, {2, 9, 33, 17}, {1, 64, 768, 65}, {1, 100, 768, 9}}) {
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

    /**
     * The whole quantize_dynamic pattern (DynamicQuantizeLinear shared by two MatMulInteger ->
     * Cast -> Mul(., Mul(x_scale, w_scale)) chains, per-tensor and per-column scales, one with a
     * bias Add and an activation after it: Relu, erf GELU or tanh GELU) fused into QuantMatMul gives
     * the unfused reference path's floats bit for bit, and the activation runs inside the fused node.
     * The shapes cover a column tail, several row and column tiles of the int8 kernel, and a K longer
     * than one of its K chunks (512) and not a multiple of 4 or 16 (the quantizer's masked tail).
     */
    @Test
    void fusedQuantMatMulEqualsTheUnfusedChain() {
        // N = 35: two 16-lane vectors and a tail, one tile; 210 x 300: several row and column tiles of
        // the int8 kernel, each dequantized (and given its Relu) by the tile epilogue as it finishes
        String[] acts = {"Relu", "Gelu", "GeluTanh"};
        int[][] cases = {{2, 5, 37, 35}, {3, 70, 37, 300}, {2, 9, 600, 48}, {1, 130, 40, 64}, {1, 3, 1030, 32}};
        for (int ci = 0; ci < cases.length * acts.length; ci++) {
            int[] c = cases[ci / acts.length];
            String act = acts[ci % acts.length];
            int k = c[2], n = c[3];
            int[] shape = {c[0], c[1], k};
            float[] x = Tensor.uniform(g, -2, 3, DType.F32, c[0] * c[1] * k).toFloatArray();
            long before = QuantFast.MATMULS.get();
            QuantOps.fast = true;
            List<float[]> fused = runFloats(chains(k, n, act), x, shape);
            assertEquals(before + 2, QuantFast.MATMULS.get(), "both chains ran as QuantMatMul");
            QuantOps.fast = false;
            System.setProperty("kiln.onnx.optimize", "false");
            try {
                List<float[]> ref = runFloats(chains(k, n, act), x, shape);
                for (int t = 0; t < 2; t++) {
                    String what = "output y" + t + ", " + java.util.Arrays.toString(c) + " " + act;
                    if (t == 0 || act.equals("Relu") || n % 16 == 0) assertArrayEquals(ref.get(t), fused.get(t), what);
                    else {
                        // a GELU row block that ends inside a vector: the backend computes the last
                        // n % 16 columns of each row by its scalar reference (rounded once from double),
                        // where the unfused node's flat pass met them inside whole vectors: within two ulps (1e-7 near 0, where the
                        // vector tanh form loses relative precision)
                        float[] e = ref.get(t), a = fused.get(t);
                        for (int i = 0; i < e.length; i++)
                            assertEquals(e[i], a[i], Math.max(2 * Math.ulp(e[i]), 1e-7f), what + " at " + i);
                    }
                }
            } finally {
                System.clearProperty("kiln.onnx.optimize");
                QuantOps.fast = true;
            }
        }
    }

    /**
     * The two chains read the same x, so the second QuantMatMul of a run takes the first one's
     * quantized x; a caller that writes new values into the same input tensor between runs gets
     * the new values' results (nothing is kept across runs).
     */
    @Test
    void aQuantizedInputIsReusedWithinARunOnly() {
        int k = 40, n = 48;
        int[] shape = {2, 9, k};
        float[] x1 = Tensor.uniform(g, -2, 3, DType.F32, 2 * 9 * k).toFloatArray(), x2 = Tensor.uniform(g, -1, 5, DType.F32, 2 * 9 * k).toFloatArray();
        List<float[]> expected = runFloats(chains(k, n, "Relu"), x2, shape);
        try (dev.kiln.onnx.OnnxExecutor ex = new dev.kiln.onnx.OnnxExecutor(new dev.kiln.onnx.OnnxModel(8, "test", "", Map.of("", 17L), chains(k, n, "Relu")));
             Tensor in = Tensor.fromArray(x1, shape)) {
            Map<String, Value> first = ex.run(Map.of("x", Value.of(in)));
            first.values().forEach(v -> v.tensor().close());
            try (Tensor fresh = Tensor.fromArray(x2, shape)) { in.copyFrom(fresh); }   // same tensor object, new values
            Map<String, Value> second = ex.run(Map.of("x", Value.of(in)));
            for (int t = 0; t < 2; t++) assertArrayEquals(expected.get(t), second.get("y" + t).tensor().toFloatArray(), "y" + t);
            second.values().forEach(v -> v.tensor().close());
        }
    }

    /** The graph of the test above (fresh initializers each time: an executor closes its model's). */
    private static OnnxGraph chains(int k, int n, String act) {
        java.util.Random r = new java.util.Random(9);
        Map<String, Value> init = new LinkedHashMap<>();
        for (int t = 0; t < 2; t++) {
            double[] w = new double[k * n];
            for (int i = 0; i < w.length; i++) w[i] = r.nextInt(255) - 127;
            Tensor wt = Tensor.fromDoubles(DType.I8, w, k, n);
            wt.storage().seal();
            init.put("W" + t, Value.of(wt, ElemType.INT8));
            double[] zb = new double[t == 0 ? 1 : n];                      // nonzero weight zero points: -5, and one per column
            for (int j = 0; j < zb.length; j++) zb[j] = t == 0 ? -5 : r.nextInt(7) - 3;
            init.put("WZ" + t, Value.of(Tensor.fromDoubles(DType.I8, zb, t == 0 ? new int[0] : new int[]{n}), ElemType.INT8));
            float[] sc = new float[t == 0 ? 1 : n];
            for (int j = 0; j < sc.length; j++) sc[j] = 0.001f + r.nextFloat() * 0.01f;
            init.put("WS" + t, Value.of(t == 0 ? Tensor.scalar(sc[0]) : Tensor.fromArray(sc, n), ElemType.FLOAT));
        }
        List<OnnxNode> nodes = new java.util.ArrayList<>(List.of(
                new OnnxNode("dq", "DynamicQuantizeLinear", "", List.of("x"), List.of("xq", "xs", "xz"), Map.of())));
        for (int t = 0; t < 2; t++) {
            nodes.add(new OnnxNode("mm" + t, "MatMulInteger", "", List.of("xq", "W" + t, "xz", "WZ" + t), List.of("i" + t), Map.of()));
            nodes.add(new OnnxNode("c" + t, "Cast", "", List.of("i" + t), List.of("f" + t),
                    Map.of("to", new dev.kiln.onnx.OnnxAttribute("to", dev.kiln.onnx.OnnxAttribute.Type.INT, 0, 1, null, null, null,
                            new float[0], new long[0], List.of(), List.of(), List.of(), null))));
            nodes.add(new OnnxNode("s" + t, "Mul", "", t == 0 ? List.of("xs", "WS0") : List.of("WS1", "xs"), List.of("s" + t), Map.of()));
            nodes.add(new OnnxNode("y" + t, "Mul", "", t == 0 ? List.of("f0", "s0") : List.of("s1", "f1"), List.of(t == 0 ? "y0" : "m1"), Map.of()));
        }
        float[] bias = new float[n];                                   // chain 1 ends in a bias Add (fused into the epilogue)
        for (int j = 0; j < n; j++) bias[j] = r.nextFloat() - 0.5f;
        init.put("B1", Value.of(Tensor.fromArray(bias, n), ElemType.FLOAT));
        nodes.add(new OnnxNode("b1", "Add", "", List.of("B1", "m1"), List.of("a1"), Map.of()));
        if (act.equals("Relu")) nodes.add(new OnnxNode("r1", "Relu", "", List.of("a1"), List.of("y1"), Map.of()));   // taken in as the activation
        else nodes.add(new OnnxNode("r1", "Gelu", "dev.kiln", List.of("a1"), List.of("y1"), act.equals("Gelu") ? Map.of()
                : Map.of("approximate", new dev.kiln.onnx.OnnxAttribute("approximate", dev.kiln.onnx.OnnxAttribute.Type.STRING, 0, 0,
                        "tanh".getBytes(java.nio.charset.StandardCharsets.UTF_8), null, null, new float[0], new long[0], List.of(), List.of(), List.of(), null))));
        return new OnnxGraph("q", nodes, List.of(info("x", ElemType.FLOAT)),
                List.of(info("y0", ElemType.FLOAT), info("y1", ElemType.FLOAT)), List.of(), init);
    }

    private static List<float[]> runFloats(OnnxGraph graph, float[] x, int[] shape) {
        try (OnnxExecutor ex = new OnnxExecutor(new OnnxModel(8, "test", "", Map.of("", 17L), graph));
             Tensor in = Tensor.fromArray(x, shape)) {
            dev.kiln.onnx.OnnxProfile prof = ex.profile(true);
            Map<String, Value> out = ex.run(Map.of("x", Value.of(in)));
            if (!"false".equals(System.getProperty("kiln.onnx.optimize")))
                org.junit.jupiter.api.Assertions.assertFalse(prof.table().contains("Relu") || prof.table().contains("Gelu"),
                        "the activation ran as its own node:\n" + prof.table());
            List<float[]> r = List.of(out.get("y0").tensor().toFloatArray(), out.get("y1").tensor().toFloatArray());
            out.values().forEach(v -> v.tensor().close());
            return r;
        }
    }
}
