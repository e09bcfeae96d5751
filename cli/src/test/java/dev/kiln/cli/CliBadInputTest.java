package dev.kiln.cli;

import dev.kiln.nn.Sequential;
import dev.kiln.onnx.export.OnnxExport;
import dev.kiln.tensor.Generator;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every command given wrong input fails fast and cleanly: exit 2, one line on stderr that names
 * the path or option, no stack trace, nothing on stdout (no work was started), and no file left
 * behind. Files are judged by content: an ONNX model or random bytes where a checkpoint is
 * expected, a truncated ONNX model, a directory where a file is expected.
 */
class CliBadInputTest {
    @TempDir Path dir;
    Path ckpt, withArchitecture, onnx, onnxBin, truncated, random, folder, npy, plainFile;

    @BeforeEach
    void fixtures() throws IOException {
        ckpt = dir.resolve("mlp.ckpt");
        onnx = dir.resolve("mlp.onnx");
        try (Sequential m = Models.mlp(new Generator(1))) {
            Checkpoint.save(ckpt, m, null, Map.of("model", "mlp", "epoch", "1"));
            withArchitecture = dir.resolve("pruned.ckpt");
            dev.kiln.compress.ModelCheckpoint.save(withArchitecture, m, Map.of("model", "mlp"));
            m.eval();
            OnnxExport.export(m, new int[]{1, 1, 28, 28}, onnx, 17);
        }
        byte[] model = Files.readAllBytes(onnx);
        onnxBin = Files.write(dir.resolve("model.bin"), model);
        truncated = Files.write(dir.resolve("cut.onnx"), java.util.Arrays.copyOf(model, model.length / 2));
        byte[] noise = new byte[4096];
        new Random(3).nextBytes(noise);
        random = Files.write(dir.resolve("noise.ckpt"), noise);
        folder = Files.createDirectory(dir.resolve("folder"));
        try (var t = dev.kiln.tensor.Tensor.fromArray(new float[784], 1, 1, 28, 28)) {
            npy = dir.resolve("x.npy");
            dev.kiln.io.Npy.write(npy, t);
        }
        plainFile = Files.writeString(dir.resolve("plain.txt"), "not a directory");
    }

    /** One bad command line and the words its error must contain. */
    record Case(List<String> args, List<String> expect) {}

    private static Case bad(String expect, Object... args) {
        List<String> a = new ArrayList<>();
        for (Object o : args) a.add(o.toString());
        return new Case(a, List.of(expect.split("\\|")));
    }

    private List<Case> cases() {
        Path missing = dir.resolve("no/such/dir");
        String c = ckpt.toString();
        return List.of(
                // outputs, checked before any work
                bad("folder for --save does not exist|" + missing, "train", "--save", missing.resolve("m.ckpt"), "--limit", "64", "--no-progress"),
                bad("--save|" + folder + " is a directory", "train", "--save", folder, "--limit", "64", "--no-progress"),
                bad("--save|/proc/x", "train", "--save", "/proc/x/m.ckpt", "--limit", "64", "--no-progress"),
                bad("--json|" + missing, "train", "--json", missing.resolve("r.json"), "--limit", "64", "--no-progress"),
                bad("--json /proc/x.json|/proc", "train", "--json", "/proc/x.json", "--limit", "64", "--no-progress"),
                bad("--out|" + folder + " is a directory", "quantize", c, "--out", folder),
                bad("--out|" + missing, "quantize", c, "--out", missing.resolve("q.ckpt")),
                bad("--out|" + missing, "prune", c, "--method", "magnitude", "--out", missing.resolve("p.ckpt")),
                bad("--out|" + folder + " is a directory", "distill", "--teacher", c, "--out", folder),
                bad("--out|" + missing, "fuse", c, "--out", missing.resolve("f.ckpt")),
                bad("--out|" + folder + " is a directory", "export", c, "--out", folder),
                bad("--output-dir|" + plainFile + " is not a directory", "run", onnx, "--output-dir", plainFile),
                bad("--output-dir /proc/x|/proc", "run", onnx, "--output-dir", "/proc/x"),
                bad("--json|" + folder + " is a directory", "bench", "gemm", "--json", folder),
                bad("--json|" + missing, "bench", "elementwise", "--json", missing.resolve("e.json")),
                bad("--crossover|" + folder + " is a directory", "bench", "sparse", "--crossover", folder),
                bad("--json|" + missing, "lab", "softmax", "--json", missing.resolve("l.json")),
                bad("--json|" + missing, "check-onnx", folder, "--json", missing.resolve("c.json")),
                // inputs, by content
                bad(onnx + ": give --out OUT.onnx for the quantized model", "quantize", onnx),   // an ONNX model is quantized to an ONNX file
                bad(random + " is not a Kiln checkpoint (safetensors) file", "quantize", random),
                bad(folder + " is a directory", "quantize", folder),
                bad(onnx + ": ONNX files take --method structured", "prune", onnx, "--method", "magnitude", "--out", dir.resolve("p.ckpt")),
                bad(random + " is not a Kiln checkpoint", "prune", random, "--method", "magnitude", "--out", dir.resolve("p.ckpt")),
                bad(onnx + " is an ONNX model; train --resume takes a Kiln checkpoint", "train", "--resume", onnx, "--limit", "64", "--no-progress"),
                bad(random + " is not a Kiln checkpoint", "train", "--resume", random, "--limit", "64", "--no-progress"),
                bad(folder + " is a directory", "train", "--resume", folder, "--limit", "64", "--no-progress"),
                bad(withArchitecture + " holds a pruned, fused or quantized model", "train", "--resume", withArchitecture, "--limit", "64", "--no-progress"),
                bad(ckpt + " holds a 'mlp' model, not --model cnn", "train", "--resume", ckpt, "--model", "cnn", "--limit", "64", "--no-progress"),
                bad(onnxBin + " is an ONNX model; fuse takes a Kiln checkpoint", "fuse", onnxBin, "--out", dir.resolve("f.ckpt")),
                bad(truncated + " is a truncated ONNX model; export takes a Kiln checkpoint", "export", truncated, "--out", dir.resolve("e.onnx")),
                bad(random + " is not a Kiln checkpoint", "export", random, "--out", dir.resolve("e.onnx")),
                bad(onnx + " is an ONNX model; distill --teacher takes a Kiln checkpoint", "distill", "--teacher", onnx, "--out", dir.resolve("d.ckpt")),
                bad("truncated or not an ONNX file (" + truncated + ")", "info", truncated),
                bad("truncated or not an ONNX file (" + truncated + ")", "run", truncated, "--output-dir", dir.resolve("out")),
                bad(folder + " is a directory", "info", folder),
                bad(folder + " is a directory", "run", folder, "--output-dir", dir.resolve("out")),
                bad(random + " is of an unknown format", "info", random),
                bad(ckpt + " is a Kiln checkpoint", "run", ckpt, "--output-dir", dir.resolve("out")),
                bad("--input " + folder + " is a directory", "run", onnx, "--input", folder, "--output-dir", dir.resolve("out")),
                bad("--input " + onnx + " is an ONNX model, not a .npy array", "run", onnx, "--input", onnx, "--output-dir", dir.resolve("out")),
                bad("no such file|" + dir.resolve("nope.ckpt"), "quantize", dir.resolve("nope.ckpt")),
                // option values, named
                bad("--batch must be >= 1, got 0", "train", "--batch", "0", "--save", dir.resolve("t.ckpt")),
                bad("--lr must be a finite number|NaN", "train", "--lr", "NaN", "--save", dir.resolve("t.ckpt")),
                bad("--limit must be >= 1, got 0", "train", "--limit", "0"),
                bad("--momentum", "train", "--momentum", "Infinity"),
                bad("--batch must be >= 1, got 0", "prune", c, "--method", "magnitude", "--batch", "0", "--out", dir.resolve("p.ckpt")),
                bad("--lr must be a finite number > 0, got NaN", "distill", "--teacher", c, "--lr", "NaN", "--out", dir.resolve("d.ckpt")),
                bad("--calib-batches must be >= 1, got 0", "quantize", c, "--calib-batches", "0"),
                bad("--model|holds a 'mlp' model", "quantize", c, "--model", "cnn"),
                bad("--opset 9 is not supported (13 to 17)", "export", c, "--opset", "9", "--out", dir.resolve("e.onnx")),
                bad("unknown device 'tpu'", "run", onnx, "--device", "tpu", "--output-dir", dir.resolve("out")),
                bad("--device cuda|use --device cpu", "run", onnx, "--device", "cuda", "--output-dir", dir.resolve("out")));
    }

    @Test
    void everyCommandFailsFastWithOneLineNamingThePathOrOption() throws IOException {
        List<String> failures = new ArrayList<>();
        for (Case k : cases()) {
            List<Path> before = files();
            CliRun r = CliRun.of(k.args().toArray(String[]::new));
            String what = String.join(" ", k.args()) + "\n    exit " + r.code() + ", stderr: " + r.err().strip() + (r.out().isBlank() ? "" : "\n    stdout: " + r.out().strip());
            List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
            boolean ok = r.code() == Main.BAD_INPUT && lines.size() == 1 && lines.getFirst().startsWith("kiln: ")
                    && k.expect().stream().allMatch(lines.getFirst()::contains)
                    && !r.err().contains("Exception") && !r.err().contains("\tat ")
                    && r.out().isBlank() && before.equals(files());
            if (!ok) failures.add(what + (before.equals(files()) ? "" : "\n    files left: " + files()) + "\n    expected: " + k.expect());
        }
        assertEquals("", String.join("\n", failures), failures.size() + " of " + cases().size() + " bad command lines misbehaved");
    }

    /** Every file and folder under the temp dir (to prove nothing was left behind). */
    private List<Path> files() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.sorted().toList();
        }
    }

    @Test
    void infoDescribesAKilnCheckpointAndAnOnnxModelWhateverItsName() {
        CliRun k = CliRun.of("info", ckpt.toString());
        assertEquals(Main.OK, k.code(), k.err());
        assertTrue(k.out().contains("Kiln checkpoint") && k.out().contains("model:") && k.out().contains("mlp")
                && k.out().contains("model.1.weight"), k.out());
        CliRun o = CliRun.of("info", onnxBin.toString());
        assertEquals(Main.OK, o.code(), o.err());
        assertTrue(o.out().contains("Gemm") || o.out().contains("MatMul"), o.out());
    }

    @Test
    void helpListsAdamwWithItsOwnLearningRateAndEveryOptionHasHelpText() {
        CliRun h = CliRun.of("train", "--help");
        assertEquals(Main.OK, h.code());
        String help = h.out().replaceAll("\\s+", " ");
        assertTrue(help.contains("adamw") && help.contains(TrainCommand.ADAM_LR + " for adam and adamw")
                && help.contains(TrainCommand.SGD_LR + " for sgd"), help);
        assertTrue(help.contains("with --resume"), "--epochs documents its meaning with --resume: " + help);
        List<String> bare = new ArrayList<>();
        undocumented(new Main().commandLine(), bare);
        assertEquals(List.of(), bare, "options without help text");
    }

    private static void undocumented(CommandLine cl, List<String> out) {
        var spec = cl.getCommandSpec();
        for (var o : spec.options())
            if (String.join("", o.description()).isBlank()) out.add(spec.qualifiedName() + " " + o.longestName());
        for (var p : spec.positionalParameters())
            if (String.join("", p.description()).isBlank()) out.add(spec.qualifiedName() + " " + p.paramLabel());
        for (CommandLine sub : cl.getSubcommands().values()) undocumented(sub, out);
    }

    @Test
    void outputChecksLeaveNoProbeFileAndAcceptAWritableFolder() throws IOException {
        CliChecks.outputFile("--save", dir.resolve("ok.ckpt"));
        CliChecks.outputDir("--output-dir", dir.resolve("new/deeper"));
        assertFalse(Files.exists(dir.resolve("new")), "checking an output folder does not create it");
        try (Stream<Path> s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".kiln-write-check")), "probe files are deleted");
        }
    }
}
