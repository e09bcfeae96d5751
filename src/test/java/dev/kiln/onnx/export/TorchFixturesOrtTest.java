package dev.kiln.onnx.export;

import dev.kiln.io.Npy;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The PyTorch-exported fixtures in src/test/resources/models (tools/make_model_fixtures.py) are
 * consistent: ONNX Runtime on each model file and its input gives PyTorch's expected output.
 * Guards the fixtures the ONNX executor tests rely on (a regenerated or corrupted file shows here).
 */
class TorchFixturesOrtTest {
    static final Path DIR = Path.of("src/test/resources/models");

    @ParameterizedTest
    @CsvSource({"mlp,13", "mlp,17", "cnn,13", "cnn,17", "transformer,13", "transformer,17"})
    void ortReproducesPyTorch(String model, int opset) throws Exception {
        Path file = DIR.resolve(model + "_op" + opset + ".onnx");
        assertTrue(Files.isRegularFile(file), "missing fixture " + file + " (run tools/make_model_fixtures.py)");
        try (Scope s = Scope.open()) {
            Tensor x = Npy.read(DIR.resolve(model + "_input.npy")), want = Npy.read(DIR.resolve(model + "_expected.npy"));
            OrtReference.Result r = OrtReference.run(file, x.toFloatArray(), Arrays.stream(x.shape()).asLongStream().toArray());
            assertArrayEquals(Arrays.stream(want.shape()).asLongStream().toArray(), r.shape(), model + " output shape");
            float[] w = want.toFloatArray();
            for (int k = 0; k < w.length; k++)
                assertTrue(Math.abs(r.data()[k] - w[k]) <= 1e-4 + 1e-4 * Math.abs(w[k]),
                        model + " opset " + opset + " element " + k + ": ort " + r.data()[k] + ", torch " + w[k]);
        }
    }
}
