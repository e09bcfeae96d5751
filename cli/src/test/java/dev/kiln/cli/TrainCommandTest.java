package dev.kiln.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainCommandTest {
    @Test void trainsWritesJsonAndResumes(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("m.json"), ck = dir.resolve("ck.safetensors");
        CliRun r = CliRun.of("train", "--data", "fashion-mnist",
                "--model", "mlp", "--epochs", "1", "--limit", "640", "--no-progress", "--json", json.toString(), "--save", ck.toString());
        assertEquals(0, r.code(), r.err());
        String j = Files.readString(json);
        assertTrue(j.contains("\"test_accuracy\"") && j.contains("\"epoch_seconds\": [") && j.contains("\"samples_per_second\""), j);
        assertTrue(Files.exists(ck));
        CliRun again = CliRun.of("train", "--model", "mlp", "--epochs", "1", "--limit", "640", "--no-progress", "--resume", ck.toString());
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("resumed from") && again.out().contains("epoch"), again.out());
    }

    /** Stopped after epoch 1 and resumed: epoch 2's loss and the final parameters equal an uninterrupted run's, bit for bit. */
    @Test void resumeContinuesTheUninterruptedRunExactly(@TempDir Path dir) {
        Path whole = dir.resolve("whole.ckpt"), first = dir.resolve("first.ckpt"), resumed = dir.resolve("resumed.ckpt");
        String[] common = {"train", "--model", "mlp", "--limit", "640", "--batch", "32", "--no-progress", "--no-prefetch"};
        CliRun a = CliRun.of(concat(common, "--epochs", "2", "--save", whole.toString()));
        assertEquals(0, a.code(), a.err());
        assertEquals(0, CliRun.of(concat(common, "--epochs", "1", "--save", first.toString())).code());
        CliRun c = CliRun.of(concat(common, "--epochs", "1", "--resume", first.toString(), "--save", resumed.toString()));
        assertEquals(0, c.code(), c.err());
        String epoch2 = a.out().lines().filter(l -> l.startsWith("2 ")).findFirst().orElseThrow();
        String resumed2 = c.out().lines().filter(l -> l.startsWith("2 ")).findFirst().orElseThrow();
        assertEquals(epoch2.split("\\s+")[1], resumed2.split("\\s+")[1], "epoch 2 loss");
        var d = dev.kiln.dist.DistributedTraining.compareCheckpoints(whole, resumed);
        assertEquals(6, d.tensors());
        assertEquals(0.0, d.maxRelative(), "resumed vs uninterrupted: " + d.tensor());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test void resumeWithoutModelTrainsTheModelRecordedInTheCheckpoint(@TempDir Path dir) {
        Path ck = dir.resolve("cnn.ckpt");
        try (var m = dev.kiln.train.Models.cnn(new dev.kiln.tensor.Generator(3))) {
            dev.kiln.train.Checkpoint.save(ck, m, null, java.util.Map.of("model", "cnn", "epoch", "1"));
        }
        CliRun r = CliRun.of("train", "--resume", ck.toString(), "--epochs", "0", "--limit", "64", "--no-progress");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("resumed from " + ck + " at epoch 1") && r.out().contains("model cnn ("), r.out());
    }

    /**
     * kiln train --model gpt on a text file: the held-out loss falls, the Hugging Face directory is
     * written, sampled, and runs in kiln generate.
     */
    @Test void gptOnTextThenGenerate(@TempDir Path dir) throws Exception {
        Path text = dir.resolve("text.txt"), out = dir.resolve("gpt"), json = dir.resolve("gpt.json");
        Files.writeString(text, "the quick brown fox jumps over the lazy dog. ".repeat(80));
        CliRun r = CliRun.of("train", "--model", "gpt", "--data", text.toString(), "--steps", "80", "--context", "32", "--width", "32",
                "--layers", "1", "--heads", "2", "--eval-every", "40", "--lr", "3e-3", "--dropout", "0", "--out", out.toString(),
                "--sample", "20", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("model gpt (GPT-2 architecture, byte tokens): 1 layers, width 32") && r.out().contains("sample (temperature 0.8): "), r.out());
        String j = Files.readString(json);
        double start = Double.parseDouble(j.replaceAll(".*\"held_out_loss_start\": ([0-9.]+).*\\s*", "$1").trim());
        double end = Double.parseDouble(j.replaceAll(".*\"held_out_loss\": ([0-9.]+).*\\s*", "$1").trim());
        assertTrue(end < start - 2, "held-out loss (perplexity down by more than e^2) " + start + " -> " + end + ": " + j);
        for (String f : new String[]{"config.json", "model.safetensors", "vocab.json", "merges.txt"}) assertTrue(Files.exists(out.resolve(f)), f);
        CliRun g = CliRun.of("generate", out.toString(), "--prompt", "the quick", "--max-new-tokens", "12");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().contains("prompt 9 tokens") && g.out().contains("12 new tokens"), g.out());
        CliRun bad = CliRun.of("train", "--model", "gpt", "--steps", "3");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--data FILE or DIR of text"), bad.err());
        CliRun badHeads = CliRun.of("train", "--model", "gpt", "--data", text.toString(), "--width", "30", "--heads", "4");
        assertEquals(2, badHeads.code());
        assertTrue(badHeads.err().contains("--width 30 must be a multiple of --heads 4"), badHeads.err());
        CliRun badPrecision = CliRun.of("train", "--model", "gpt", "--data", text.toString(), "--precision", "fp8");
        assertEquals(2, badPrecision.code());
        assertTrue(badPrecision.err().contains("--precision must be f32 or bf16, got fp8"), badPrecision.err());
    }

    /** --precision bf16: the Linear products run under bf16 autocast; the header says so and the held-out loss still falls. */
    @Test void gptInBf16(@TempDir Path dir) throws Exception {
        Path text = dir.resolve("text.txt"), json = dir.resolve("gpt.json");
        Files.writeString(text, "the quick brown fox jumps over the lazy dog. ".repeat(80));
        CliRun r = CliRun.of("train", "--model", "gpt", "--data", text.toString(), "--steps", "80", "--context", "32", "--width", "32",
                "--layers", "1", "--heads", "2", "--eval-every", "40", "--lr", "3e-3", "--dropout", "0", "--sample", "0",
                "--precision", "bf16", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains(", bf16 Linear products ("), r.out());
        String j = Files.readString(json);
        double start = Double.parseDouble(j.replaceAll(".*\"held_out_loss_start\": ([0-9.]+).*\\s*", "$1").trim());
        double end = Double.parseDouble(j.replaceAll(".*\"held_out_loss\": ([0-9.]+).*\\s*", "$1").trim());
        assertTrue(end < start - 2, "held-out loss " + start + " -> " + end + ": " + j);
    }

    /**
     * --save at every evaluation, then --resume with more steps: it starts from the saved step with
     * the saved model (its held-out loss is the first run's last one, to the printed digit), and a
     * checkpoint already at --steps is refused in one line.
     */
    @Test void gptSavesAndResumes(@TempDir Path dir) throws Exception {
        Path text = dir.resolve("text.txt"), ck = dir.resolve("gpt.ckpt");
        Files.writeString(text, "all that glitters is not gold. ".repeat(60));
        CliRun first = CliRun.of("train", "--model", "gpt", "--data", text.toString(), "--context", "16", "--width", "16", "--layers", "1",
                "--heads", "2", "--eval-every", "3", "--sample", "0", "--steps", "6", "--save", ck.toString(), "--json", dir.resolve("first.json").toString());
        assertEquals(0, first.code(), first.err());
        CliRun resumed = CliRun.of("train", "--model", "gpt", "--data", text.toString(), "--eval-every", "3", "--sample", "0", "--steps", "9",
                "--resume", ck.toString(), "--json", dir.resolve("resumed.json").toString());
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("resumed from " + ck + " at step 6") && resumed.out().contains("1 layers, width 16"), resumed.out());
        String a = Files.readString(dir.resolve("first.json")), b = Files.readString(dir.resolve("resumed.json"));
        String lossAt6 = a.replaceAll("(?s).*\"held_out_loss\": ([0-9.]+).*", "$1"), startOfResumed = b.replaceAll("(?s).*\"held_out_loss_start\": ([0-9.]+).*", "$1");
        assertEquals(lossAt6, startOfResumed, "the resumed model is the saved one: " + a + " / " + b);
        CliRun atEnd = CliRun.of("train", "--model", "gpt", "--data", text.toString(), "--steps", "6", "--resume", ck.toString());
        assertEquals(2, atEnd.code());
        assertTrue(atEnd.err().contains("is at step 6"), atEnd.err());
        CliRun wrongModel = CliRun.of("train", "--resume", ck.toString(), "--epochs", "1");
        assertEquals(2, wrongModel.code());
        assertTrue(wrongModel.err().contains("resume it with --model gpt"), wrongModel.err());
    }

    @Test void unknownDistBackendIsOneLine() {
        CliRun r = CliRun.of("train", "--model", "mlp", "--epochs", "0", "--limit", "64", "--no-progress", "--dist-backend", "gloo");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--dist-backend gloo is not a backend (cpu, mpi, nccl)"), r.err());
        CliRun b = CliRun.of("bench", "allreduce", "--backend", "gloo");
        assertEquals(2, b.code());
        assertTrue(b.err().contains("--backend must be cpu or mpi, got gloo"), b.err());
    }

    @Test void badInputExitsTwoWithOneLine(@TempDir Path dir) {
        CliRun r = CliRun.of("train", "--model", "resnet", "--epochs", "1", "--limit", "64", "--no-progress");
        assertEquals(2, r.code());
        assertTrue(r.err().strip().lines().count() == 1 && r.err().contains("unknown model"), r.err());
        CliRun d = CliRun.of("train", "--data", dir.resolve("missing").toString(), "--epochs", "1");
        assertEquals(2, d.code());
        assertTrue(d.err().contains("no Fashion-MNIST IDX files"), d.err());
    }
}
