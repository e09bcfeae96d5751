package dev.kiln.cli;

import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.compress.prune.Criterion;
import dev.kiln.compress.prune.StructuredPruner;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Generator;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `kiln distill` and `kiln fuse` on a small synthetic IDX data set . */
class CompressCommandsTest {
    private static CliRun run(String... args) { return CliRun.of(args); }

    /** Fashion-MNIST-shaped IDX files: images whose mean brightness of a band encodes the label. */
    private static Path idxData(Path dir, int nTrain, int nTest) throws IOException {
        Generator g = new Generator(4);
        for (boolean train : new boolean[]{true, false}) {
            int n = train ? nTrain : nTest;
            String split = train ? "train" : "t10k";
            byte[] images = new byte[n * 784], labels = new byte[n];
            for (int i = 0; i < n; i++) {
                int y = g.nextInt(10);
                labels[i] = (byte) y;
                for (int p = 0; p < 784; p++) images[i * 784 + p] = (byte) (p / 78 == y ? 200 + g.nextInt(50) : g.nextInt(60));
            }
            write(dir.resolve(split + "-images-idx3-ubyte"), new int[]{n, 28, 28}, images);
            write(dir.resolve(split + "-labels-idx1-ubyte"), new int[]{n}, labels);
        }
        return dir;
    }

    private static void write(Path f, int[] dims, byte[] data) throws IOException {
        try (DataOutputStream o = new DataOutputStream(Files.newOutputStream(f))) {
            o.writeInt(0x0800 | dims.length);
            for (int d : dims) o.writeInt(d);
            o.write(data);
        }
    }

    @Test void distillPrintsBothStudentsAndSavesTheDistilledOne(@TempDir Path dir) throws IOException {
        Path data = idxData(Files.createDirectory(dir.resolve("data")), 256, 64);
        Path teacher = dir.resolve("t.ckpt"), out = dir.resolve("s.ckpt");
        try (Module t = Models.mlp(new Generator(1))) {
            Checkpoint.save(teacher, t, null, Map.of("model", "mlp"));
        }
        CliRun r = run("distill", "--teacher", teacher.toString(), "--teacher-model", "mlp", "--student-model", "mlp-small",
                "--data", data.toString(), "--seeds", "0,1", "--temperature", "3", "--alpha", "0.5", "--out", out.toString(), "--timing-budget", "0.02");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("labels only") && r.out().contains("distilled") && r.out().contains("teacher mlp"), r.out());
        assertTrue(r.out().contains("in 0 of 2 seed(s)") || r.out().contains("of 2 seed(s); mean gain"), r.out());
        try (Sequential s = Models.mlpSmall(new Generator(0))) {
            assertEquals("mlp-small", Checkpoint.load(out, s, null).get("model"));
        }
        CliRun bad = run("distill", "--teacher", teacher.toString(), "--data", data.toString(), "--alpha", "1.5", "--out", out.toString(), "--timing-budget", "0.02");
        assertEquals(Main.BAD_INPUT, bad.code());
        assertTrue(bad.err().contains("alpha"), bad.err());
    }

    @Test void fusePrintsBeforeAndAfterAndSavesAReloadableModel(@TempDir Path dir) throws IOException {
        Path data = idxData(Files.createDirectory(dir.resolve("data")), 8, 64);
        Path ckpt = dir.resolve("m.ckpt"), out = dir.resolve("fused.safetensors");
        try (Module m = Models.mlp(new Generator(2))) {
            Checkpoint.save(ckpt, m, null, Map.of("model", "mlp"));
        }
        CliRun r = run("fuse", ckpt.toString(), "--model", "mlp", "--data", data.toString(), "--out", out.toString(), "--timing-budget", "0.02");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("original") && r.out().contains("fused") && r.out().contains("reloaded"), r.out());
        Matcher m = Pattern.compile("over the test logits: (\\S+)").matcher(r.out());
        assertTrue(m.find(), r.out());
        assertTrue(Double.parseDouble(m.group(1)) <= 1e-5, r.out());
        try (ModelCheckpoint.Loaded back = ModelCheckpoint.load(out)) {
            assertEquals(4, back.model().size());
            assertEquals("mlp", back.metadata().get("fused_from"));
        }
        CliRun bad = run("fuse", ckpt.toString(), "--model", "resnet", "--data", data.toString(), "--out", out.toString(), "--timing-budget", "0.02");
        assertEquals(Main.BAD_INPUT, bad.code());
    }

    @Test void fuseRebuildsAStructurallyPrunedCheckpointFromItsArchitecture(@TempDir Path dir) throws IOException {
        Path data = idxData(Files.createDirectory(dir.resolve("data")), 8, 32);
        Path pruned = dir.resolve("pruned.safetensors"), out = dir.resolve("fused.safetensors");
        try (Sequential m = Models.mlp(new Generator(2)); Sequential p = StructuredPruner.prune(m, 0.5, Criterion.L1).model()) {
            ModelCheckpoint.save(pruned, p, Map.of("model", "mlp"));
        }
        CliRun r = run("fuse", pruned.toString(), "--model", "mlp", "--data", data.toString(), "--out", out.toString(), "--timing-budget", "0.02");
        assertEquals(0, r.code(), r.err());
        try (ModelCheckpoint.Loaded back = ModelCheckpoint.load(out)) {
            assertTrue(back.metadata().get(ModelCheckpoint.ARCHITECTURE_KEY).contains("fused_linear in=784 out=128 act=relu"),
                    back.metadata().toString());
        }
    }
}
