package dev.kiln.onnx;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The executor keeps the results of the root graph's shape-only nodes (Shape and the index
 * arithmetic on its result) between runs: a run with inputs of the same shapes skips that
 * arithmetic (and the Shape call itself) and still computes right, a run with other shapes recomputes it, and the kept tensors
 * neither leak per run nor outlive the executor.
 */
class ShapeMemoTest {
    private static ValueInfo info(String name, ElemType t) { return new ValueInfo(name, ValueInfo.Kind.TENSOR, t, null, null); }

    /** y = Reshape(x, [rows * cols]) + Gather(table, Range(0, rows * cols)), the shape taken from Shape(x). */
    private static OnnxGraph graph() {
        Map<String, Value> init = new LinkedHashMap<>();
        init.put("i0", Value.of(Tensor.fromArray(new long[]{0}), ElemType.INT64));
        init.put("zero", Value.of(Tensor.scalar(0, DType.I64), ElemType.INT64));
        init.put("one", Value.of(Tensor.scalar(1, DType.I64), ElemType.INT64));
        float[] table = new float[64];
        for (int i = 0; i < table.length; i++) table[i] = 100 * i;
        init.put("table", Value.of(Tensor.fromArray(table, 64), ElemType.FLOAT));
        List<OnnxNode> nodes = List.of(
                new OnnxNode("s", "Shape", "", List.of("x"), List.of("s"), Map.of()),
                new OnnxNode("g0", "Gather", "", List.of("s", "zero"), List.of("r"), Map.of()),
                new OnnxNode("g1", "Gather", "", List.of("s", "one"), List.of("c"), Map.of()),
                new OnnxNode("n", "Mul", "", List.of("r", "c"), List.of("n"), Map.of()),
                new OnnxNode("rg", "Range", "", List.of("zero", "n", "one"), List.of("pos"), Map.of()),
                new OnnxNode("emb", "Gather", "", List.of("table", "pos"), List.of("e"), Map.of()),
                new OnnxNode("u", "Unsqueeze", "", List.of("n", "i0"), List.of("nu"), Map.of()),
                new OnnxNode("flat", "Reshape", "", List.of("x", "nu"), List.of("xf"), Map.of()),
                new OnnxNode("add", "Add", "", List.of("xf", "e"), List.of("y"), Map.of()));
        return new OnnxGraph("memo", nodes, List.of(info("x", ElemType.FLOAT)), List.of(info("y", ElemType.FLOAT)), List.of(), init);
    }

    private static float[] run(OnnxExecutor ex, float[] x, int rows, int cols) {
        try (Tensor in = Tensor.fromArray(x, rows, cols)) {
            Map<String, Value> out = ex.run(Map.of("x", Value.of(in)));
            float[] y = out.get("y").tensor().toFloatArray();
            out.values().forEach(Values::close);
            return y;
        }
    }

    private static float[] values(long seed, int n) {
        java.util.Random r = new java.util.Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() * 2 - 1;
        return v;
    }

    private static float[] expected(float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] + 100 * i;
        return y;
    }

    @Test
    void sameShapesReuseTheIndexArithmeticOtherShapesRecomputeIt() {
        long before = Storage.liveCountIgnoringCleaner();
        try (OnnxExecutor ex = new OnnxExecutor(new OnnxModel(8, "t", "", Map.of("", 17L), graph()))) {
            OnnxProfile prof = ex.profile(true);
            float[] a = values(1, 6);
            assertArrayEquals(expected(a), run(ex, a, 2, 3));
            assertEquals(1, prof.calls("Mul"));
            assertEquals(3, prof.calls("Gather"), "two on the shape, one on the table");
            long kept = Storage.liveCountIgnoringCleaner();
            float[] b = values(2, 6);
            for (int k = 0; k < 3; k++) assertArrayEquals(expected(b), run(ex, b, 2, 3), "same shape, run " + k);
            assertEquals(1, prof.calls("Shape"), "a Shape of an input of the kept shape is not called");
            assertEquals(1, prof.calls("Mul"), "the arithmetic on an unchanged shape is kept");
            assertEquals(3, prof.calls("Gather"), "and the table lookup on the kept positions");
            assertEquals(4, prof.calls("Reshape"), "data ops run every time");
            assertEquals(kept, Storage.liveCountIgnoringCleaner(), "runs with kept results allocate nothing that stays");
            float[] c = values(3, 12);
            assertArrayEquals(expected(c), run(ex, c, 3, 4), "another shape");
            assertEquals(2, prof.calls("Mul"), "recomputed for the new shape");
            assertEquals(2, prof.calls("Shape"));
            assertArrayEquals(expected(a), run(ex, a, 6, 1), "same element count, other shape");
            assertEquals(3, prof.calls("Mul"));
        }
        assertEquals(before, Storage.liveCountIgnoringCleaner(), "the kept tensors close with the executor");
    }
}
