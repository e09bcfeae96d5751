package dev.kiln.onnx;

import dev.kiln.io.Npy;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real models exported by PyTorch 1.13 (tools/make_model_fixtures.py): Kiln's ONNX executor gives
 * PyTorch's outputs within 1e-4 relative, at opsets 13 and 17, for the fixture batch of 3 and for
 * a single row of it (the batch dim is dynamic).
 */
class OnnxModelsTest {
    static final Path DIR = Path.of("src/test/resources/models");

    @ParameterizedTest(name = "{0} opset {1}")
    @CsvSource({"mlp,13", "mlp,17", "cnn,13", "cnn,17", "transformer,13", "transformer,17"})
    void matchesPyTorch(String model, int opset) throws Exception {
        try (OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(DIR.resolve(model + "_op" + opset + ".onnx")));
             Tensor x = Npy.read(DIR.resolve(model + "_input.npy"));
             Tensor want = Npy.read(DIR.resolve(model + "_expected.npy"))) {
            check(ex, x, want, model);
            try (Tensor x1 = x.narrow(0, 1, 1).contiguous(); Tensor w1 = want.narrow(0, 1, 1).contiguous()) {
                check(ex, x1, w1, model + " batch 1");
            }
        }
    }

    /** Large initializers stay in the read-only file mapping (no copy); small ones are copied. */
    @org.junit.jupiter.api.Test
    void largeInitializersAreUsedInPlaceFromTheMapping() throws Exception {
        Path file = DIR.resolve("mlp_op17.onnx");
        OnnxModel m = OnnxReader.read(file);
        OnnxModel copy = OnnxReader.read(java.nio.file.Files.readAllBytes(file), "mlp", null);
        int mapped = 0;
        for (var e : m.graph().initializers().entrySet()) {
            Tensor t = e.getValue().tensor(), c = copy.graph().initializers().get(e.getKey()).tensor();
            boolean large = t.numel() * t.dtype().byteSize() >= OnnxTensors.MAP_IN_PLACE_BYTES;
            assertTrue(t.segment().isReadOnly() == large, e.getKey() + " in place: " + t.segment().isReadOnly());
            if (large) mapped++;
            assertArrayEquals(c.toFloatArray(), t.toFloatArray(), 0f, e.getKey());
        }
        assertTrue(mapped >= 1, "the 784x256 weight is mapped");
        OnnxExecutor.release(m);
        OnnxExecutor.release(copy);
    }

    private static void check(OnnxExecutor ex, Tensor x, Tensor want, String what) {
        var out = ex.run(Map.of("input", Value.of(x)));
        try (Tensor got = out.get("output").tensor()) {
            assertArrayEquals(want.shape(), got.shape(), what + " shape");
            float[] g = got.toFloatArray(), w = want.toFloatArray();
            double worst = 0;
            for (int i = 0; i < g.length; i++) {
                double err = Math.abs(g[i] - w[i]) / (1e-4 + Math.abs(w[i]));
                worst = Math.max(worst, err);
            }
            assertTrue(worst <= 1e-4, what + ": worst relative error " + worst + " > 1e-4 (" + Arrays.toString(Arrays.copyOf(g, 4)) + " vs "
                    + Arrays.toString(Arrays.copyOf(w, 4)) + ")");
        }
    }
}
