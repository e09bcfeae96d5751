package dev.kiln.cli;

import dev.kiln.io.Npy;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln run} and {@code kiln info MODEL} on the PyTorch-exported MLP fixture. */
class RunCommandTest {
    static final Path MODELS = Path.of("src/test/resources/models");
    @TempDir Path tmp;

    @Test
    void runsOnnxByPositionAndByName() throws Exception {
        String input = MODELS.resolve("mlp_input.npy").toString();
        for (String spec : new String[]{input, "input=" + input}) {
            Path dir = tmp.resolve(spec.startsWith("input=") ? "named" : "positional");
            CliRun r = CliRun.of("run", MODELS.resolve("mlp_op17.onnx").toString(), "--input", spec, "--output-dir", dir.toString());
            assertEquals(Main.OK, r.code(), r.err());
            assertTrue(r.out().contains("output: F32 [3, 10]"), r.out());
            try (Tensor got = Npy.read(dir.resolve("output.npy")); Tensor want = Npy.read(MODELS.resolve("mlp_expected.npy"))) {
                assertArrayEquals(want.toFloatArray(), got.toFloatArray(), 1e-4f);
            }
        }
    }

    /** --precision bf16: the MLP's products in bf16, close to the f32 outputs but not equal to them; a bad value is one line. */
    @Test
    void bf16PrecisionRunsCloseToF32() throws Exception {
        String input = MODELS.resolve("mlp_input.npy").toString();
        Path dir = tmp.resolve("bf16");
        CliRun r = CliRun.of("run", MODELS.resolve("mlp_op17.onnx").toString(), "--input", input, "--output-dir", dir.toString(), "--precision", "bf16");
        assertEquals(Main.OK, r.code(), r.err());
        try (Tensor got = Npy.read(dir.resolve("output.npy")); Tensor want = Npy.read(MODELS.resolve("mlp_expected.npy"))) {
            float[] g = got.toFloatArray(), w = want.toFloatArray();
            double diff = 0, scale = 0;
            for (int i = 0; i < g.length; i++) {
                diff = Math.max(diff, Math.abs(g[i] - w[i]));
                scale = Math.max(scale, Math.abs(w[i]));
            }
            assertTrue(diff <= 2e-2 * scale, "bf16 vs f32: max diff " + diff + " of " + scale);
            assertTrue(diff > 0, "the bf16 path did not run (the output equals f32 exactly)");
        }
        CliRun bad = CliRun.of("run", MODELS.resolve("mlp_op17.onnx").toString(), "--input", input, "--output-dir", dir.toString(), "--precision", "fp8");
        assertEquals(Main.BAD_INPUT, bad.code());
        assertTrue(bad.err().contains("--precision takes f32 or bf16, got 'fp8'"), bad.err());
    }

    @Test
    void badInputsAreOneLineErrors() throws Exception {
        String model = MODELS.resolve("mlp_op17.onnx").toString(), out = tmp.toString();
        CliRun wrongName = CliRun.of("run", model, "--input", "x=" + MODELS.resolve("mlp_input.npy"), "--output-dir", out);
        assertEquals(Main.BAD_INPUT, wrongName.code());
        assertEquals(1, wrongName.errLines().size(), wrongName.err());
        assertTrue(wrongName.err().contains("no input named 'x'"), wrongName.err());

        Path f64 = tmp.resolve("x64.npy");
        try (Tensor x = Npy.read(MODELS.resolve("mlp_input.npy")); Tensor d = x.to(dev.kiln.tensor.DType.F64)) {
            Npy.write(f64, d);
        }
        CliRun wrongType = CliRun.of("run", model, "--input", f64.toString(), "--output-dir", out);
        assertEquals(Main.BAD_INPUT, wrongType.code());
        assertTrue(wrongType.err().contains("must be FLOAT"), wrongType.err());

        Path junk = tmp.resolve("junk.onnx");
        Files.write(junk, new byte[]{8, 7, 18, (byte) 0xff, 1});
        CliRun corrupt = CliRun.of("run", junk.toString(), "--output-dir", out);
        assertEquals(Main.BAD_INPUT, corrupt.code(), corrupt.err());
        assertEquals(1, corrupt.errLines().size(), corrupt.err());
        assertTrue(corrupt.err().contains("junk.onnx"), corrupt.err());

        CliRun unknown = CliRun.of("run", tmp.resolve("m.bin").toString(), "--output-dir", out);
        assertEquals(Main.BAD_INPUT, unknown.code());
    }

    @Test
    void infoDescribesTheModel() {
        CliRun r = CliRun.of("info", MODELS.resolve("cnn_op13.onnx").toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("input"), r.out());
        assertTrue(r.out().contains("Conv"), r.out());
        assertTrue(r.out().contains("BatchNormalization"), r.out());
    }

    @Test
    void runsTorchScriptWithTupleOutputs() throws Exception {
        Path ts = Path.of("src/test/resources/torchscript");
        CliRun r = CliRun.of("run", ts.resolve("opsmix_script.pt").toString(), "--input", ts.resolve("opsmix_in0.npy").toString(),
                "--input", ts.resolve("opsmix_in1.npy").toString(), "--output-dir", tmp.toString());
        assertEquals(Main.OK, r.code(), r.err());
        for (int i = 0; i < 3; i++) {
            try (Tensor got = Npy.read(tmp.resolve("output_" + i + ".npy")); Tensor want = Npy.read(ts.resolve("opsmix_out" + i + ".npy"))) {
                assertArrayEquals(want.shape(), got.shape(), "output_" + i);
                double[] g = got.toDoubleArray(), w = want.toDoubleArray();
                for (int k = 0; k < g.length; k++) assertEquals(w[k], g[k], 1e-4 * (1 + Math.abs(w[k])), "output_" + i + "[" + k + "]");
            }
        }
        CliRun named = CliRun.of("run", ts.resolve("mlp_script.pt").toString(), "--input", "x=" + ts.resolve("mlp_in0.npy"),
                "--output-dir", tmp.toString());
        assertEquals(Main.BAD_INPUT, named.code());
        assertTrue(named.err().contains("positional"), named.err());
        CliRun info = CliRun.of("info", ts.resolve("cnn_script.pt").toString());
        assertEquals(Main.OK, info.code(), info.err());
        assertTrue(info.out().contains("TorchScript model"), info.out());
    }
}
