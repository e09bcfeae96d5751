package dev.kiln.cli;

import dev.kiln.io.Npy;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln info/run/bench/export} on the TensorFlow SavedModel fixtures (testdata/savedmodel). */
class SavedModelCommandsTest {
    static final Path DIR = Path.of("testdata/savedmodel");
    @TempDir Path tmp;

    private static float maxRelDiff(Tensor want, Tensor got) {
        float[] w = want.toFloatArray(), g = got.toFloatArray();
        assertEquals(w.length, g.length);
        float err = 0, scale = 0;
        for (int i = 0; i < w.length; i++) {
            err = Math.max(err, Math.abs(w[i] - g[i]));
            scale = Math.max(scale, Math.abs(w[i]));
        }
        return err / scale;
    }

    @Test
    void infoListsSignaturesOpsAndVariables() {
        CliRun r = CliRun.of("info", DIR.resolve("multi_signature").toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("TensorFlow SavedModel, tags serve"), r.out());
        assertTrue(r.out().contains("signature 'embed'") && r.out().contains("signature 'serving_default'"), r.out());
        assertTrue(r.out().contains("ResourceGather") && r.out().contains("RestoreV2                    1 *"), r.out());
        assertTrue(r.out().contains("variables: 3 checkpoint entries, 60 values, 240 bytes"), r.out());
    }

    @Test
    void runsEachSignatureAgainstTensorFlowsOutputs() throws Exception {
        Path io = DIR.resolve("multi_signature/io");
        Path out = tmp.resolve("embed");
        CliRun r = CliRun.of("run", DIR.resolve("multi_signature").toString(), "--signature", "embed",
                "--input", "ids=" + io.resolve("embed__b3__in__ids.npy"), "--output-dir", out.toString());
        assertEquals(Main.OK, r.code(), r.err());
        for (String key : List.of("embedding", "head"))
            try (Tensor want = Npy.read(io.resolve("embed__b3__out__" + key + ".npy")); Tensor got = Npy.read(out.resolve(key + ".npy"))) {
                assertTrue(maxRelDiff(want, got) <= 1e-5, key);
            }
        // the default signature (serving_default) by position
        Path out2 = tmp.resolve("default");
        CliRun d = CliRun.of("run", DIR.resolve("cnn").toString(), "--input", DIR.resolve("cnn/io/serving_default__b3__in__x.npy").toString(),
                "--output-dir", out2.toString());
        assertEquals(Main.OK, d.code(), d.err());
        try (Tensor want = Npy.read(DIR.resolve("cnn/io/serving_default__b3__out__logits.npy")); Tensor got = Npy.read(out2.resolve("logits.npy"))) {
            assertTrue(maxRelDiff(want, got) <= 1e-5);
        }
    }

    @Test
    void exportsASignatureAsOnnxThatRunsTheSame() throws Exception {
        Path onnx = tmp.resolve("t.onnx");
        CliRun r = CliRun.of("export", DIR.resolve("transformer").toString(), "--out", onnx.toString());
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("signature 'serving_default', opset 17"), r.out());
        try (OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(onnx));
             Tensor x = Npy.read(DIR.resolve("transformer/io/serving_default__b3__in__x.npy"));
             Tensor want = Npy.read(DIR.resolve("transformer/io/serving_default__b3__out__y.npy"))) {
            try (Tensor got = ex.run(List.of(x)).get(0)) {
                assertTrue(maxRelDiff(want, got) <= 1e-5);
            }
        }
    }

    @Test
    void benchTimesADirectory() {
        CliRun r = CliRun.of("bench", DIR.resolve("mlp").toString(), "--shape", "x=4x16", "--iters", "3", "--warmup", "1");
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("inputs: x float32 4x16"), r.out());
    }

    @Test
    void badInputIsOneLine() throws Exception {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        for (String[] args : new String[][] {
                {"run", empty.toString(), "--output-dir", tmp.resolve("o").toString()},
                {"info", empty.toString()},
                {"export", empty.toString(), "--out", tmp.resolve("x.onnx").toString()},
                {"run", DIR.resolve("mlp").toString(), "--signature", "nope", "--output-dir", tmp.resolve("o").toString()},
                {"run", DIR.resolve("mlp/saved_model.pb").toString(), "--signature", "x", "--output-dir", tmp.resolve("o").toString()},
                {"bench", DIR.resolve("mlp").toString(), "--compare", "ort"}}) {
            CliRun r = CliRun.of(args);
            assertEquals(Main.BAD_INPUT, r.code(), String.join(" ", args) + ": " + r.out() + r.err());
            assertEquals(1, r.errLines().size(), String.join(" ", args) + ": " + r.err());
        }
    }
}
