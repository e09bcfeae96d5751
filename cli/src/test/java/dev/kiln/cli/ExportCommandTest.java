package dev.kiln.cli;

import dev.kiln.autograd.GradMode;
import dev.kiln.nn.Sequential;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln export}: a training checkpoint becomes an ONNX file that Kiln's executor runs with the model's outputs. */
class ExportCommandTest {
    @TempDir Path tmp;

    @Test
    void exportsACheckpointThatRunsWithTheSameOutputs() throws Exception {
        Path ckpt = tmp.resolve("cnn.safetensors"), onnx = tmp.resolve("cnn.onnx");
        Generator g = new Generator(5);
        try (Sequential model = Models.cnn(g); Tensor x = Tensor.randn(g, 3, 1, 28, 28)) {
            Checkpoint.save(ckpt, model, null, Map.of("model", "cnn"));
            CliRun r = CliRun.of("export", ckpt.toString(), "--out", onnx.toString(), "--opset", "13");
            assertEquals(Main.OK, r.code(), r.err());
            assertTrue(r.out().contains("opset 13, input [batch, 1, 28, 28]"), r.out());
            model.eval();
            try (GradMode.Guard ng = GradMode.noGrad(); Tensor want = model.forward(x);
                 OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(onnx));
                 Tensor got = ex.run(Map.of("input", Value.of(x))).get("output").tensor()) {
                float[] a = got.toFloatArray(), b = want.toFloatArray();
                for (int i = 0; i < a.length; i++) assertEquals(b[i], a[i], 1e-4 * (1 + Math.abs(b[i])), "logit " + i);
            }
        }
        CliRun bad = CliRun.of("export", ckpt.toString(), "--out", onnx.toString(), "--opset", "9");
        assertEquals(Main.BAD_INPUT, bad.code());
        assertTrue(bad.err().contains("opset 9"), bad.err());
    }
}
