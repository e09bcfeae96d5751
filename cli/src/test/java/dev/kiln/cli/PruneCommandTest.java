package dev.kiln.cli;

import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Generator;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `kiln prune` end to end on a tiny hand-made Fashion-MNIST directory and an untrained MLP checkpoint. */
class PruneCommandTest {
    @TempDir Path dir;
    private Path model;

    @BeforeEach void setUp() throws IOException {
        writeSplit("train", 128);
        writeSplit("t10k", 64);
        model = dir.resolve("mlp.safetensors");
        try (Sequential m = Models.mlp(new Generator(0))) {
            Checkpoint.save(model, m, null, Map.of("model", "mlp", "epoch", "1"));
        }
    }

    private void writeSplit(String split, int n) throws IOException {
        byte[] pixels = new byte[n * 28 * 28], labels = new byte[n];
        Generator g = new Generator(n);
        for (int i = 0; i < pixels.length; i++) pixels[i] = (byte) g.nextInt(256);
        for (int i = 0; i < n; i++) labels[i] = (byte) (i % 10);
        Files.write(dir.resolve(split + "-images-idx3-ubyte"), idx(0x803, new int[]{n, 28, 28}, pixels));
        Files.write(dir.resolve(split + "-labels-idx1-ubyte"), idx(0x801, new int[]{n}, labels));
    }

    private static byte[] idx(int magic, int[] dims, byte[] data) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream d = new DataOutputStream(b)) {
            d.writeInt(magic);
            for (int x : dims) d.writeInt(x);
            d.write(data);
        }
        return b.toByteArray();
    }

    private record Result(int code, String out, String err) {}

    private Result prune(String... args) {
        CommandLine cl = new CommandLine(new PruneCommand());
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        String[] all = new String[args.length + 5];
        all[0] = model.toString();
        all[1] = "--data";
        all[2] = dir.toString();
        all[3] = "--latency-seconds";
        all[4] = "0.02";
        System.arraycopy(args, 0, all, 5, args.length);
        return new Result(cl.execute(all), out.toString(), err.toString());
    }

    @Test void structuredPruningShrinksTheSavedModel() throws IOException {
        Path out = dir.resolve("small.safetensors");
        Result r = prune("--method", "structured", "--sparsity", "0.5", "--finetune-epochs", "1", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("1: 256 -> 128, 3: 128 -> 64"), r.out());
        assertTrue(r.out().contains("parameters (total)") && r.out().contains("109,386"), r.out());
        assertTrue(r.out().contains("latency (ms/batch 64)"), r.out());
        try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(out)) {
            assertEquals(128, ((Linear) l.model().get(1)).outFeatures);
            assertEquals("structured l1 0.500", l.metadata().get("pruning"));
        }
    }

    @Test void gradualMagnitudePruningReachesTheTarget() {
        Path out = dir.resolve("sparse.safetensors");
        Result r = prune("--method", "magnitude", "--sparsity", "0.8", "--gradual", "--finetune-epochs", "1", "--batch", "16", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("sparsity 0.8000"), r.out());
        try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(out)) {
            long nonzero = PruneCommand.nonzero(l.model()), weights = 784 * 256 + 256 * 128 + 128 * 10;
            assertEquals(Math.round(0.2 * 784 * 256) + Math.round(0.2 * 256 * 128) + Math.round(0.2 * 1280) + 256 + 128 + 10, nonzero);
            assertTrue(nonzero < weights);
        }
    }

    @Test void nmPruning() {
        Result r = prune("--method", "nm", "--nm", "2:4", "--out", dir.resolve("nm.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("pruned nm 2:4: 50.00%"), r.out());
    }

    @Test void badOptions() {
        // IllegalArgumentException: exit 2 under Main's handler, picocli's default 1 here
        assertTrue(prune("--method", "nm", "--gradual", "--finetune-epochs", "1", "--out", "x").err().contains("--gradual works with --method magnitude"));
        assertTrue(prune("--method", "magic", "--out", "x").err().contains("unknown method 'magic'"));
        assertTrue(prune("--method", "magnitude", "--sparsity", "1.5", "--out", "x").err().contains("--sparsity must be in [0, 1)"));
    }

    @Test
    void onnxTransformerHeadsAndNeurons() throws IOException {
        Path bert = BenchModelTest.DIR.resolve("bert_op17.onnx"), out = dir.resolve("pruned.onnx");
        CliRun r = CliRun.of("prune", bert.toString(), "--method", "structured", "--heads", "0.5", "--sparsity", "0.5", "--out", out.toString(),
                "--input", "input_ids=" + BenchModelTest.DIR.resolve("bert_in0.npy"), "--input", "attention_mask=" + BenchModelTest.DIR.resolve("bert_in1.npy"));
        assertEquals(Main.OK, r.code(), r.err());
        assertTrue(r.out().contains("2 attention layers, heads 2 -> 1 each; 2 FFN layers, neurons 32 -> 16 each"), r.out());
        assertTrue(r.out().contains("cosine") && r.out().contains("last_hidden_state"), r.out());
        assertTrue(Files.size(out) < Files.size(bert));
        CliRun bad = CliRun.of("prune", bert.toString(), "--method", "magnitude", "--out", dir.resolve("x.onnx").toString());
        assertTrue(bad.code() != Main.OK && bad.err().contains("ONNX files take --method structured"), bad.err());
        CliRun frac = CliRun.of("prune", bert.toString(), "--method", "structured", "--heads", "1", "--out", dir.resolve("x.onnx").toString());
        assertTrue(frac.code() != Main.OK && frac.err().contains("head fraction"), frac.err());
        assertTrue(Files.notExists(dir.resolve("x.onnx")));
    }
}
