package dev.kiln.train;

import dev.kiln.cli.Main;
import dev.kiln.io.Safetensors;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Seeded training is bit-reproducible run to run at a fixed thread count: `kiln train` runs twice,
 * each in its own JVM, one with only C1 (the Vector API's Java fallback everywhere: lanes added
 * left to right) and one where C2 compiles the kernels early ({@code -Xbatch}, low threshold), and
 * both checkpoints must hold bitwise-identical parameters and optimizer state and be byte-identical
 * files (metadata included, whose map order differs from one JVM to the next).
 */
class TrainingDeterminismTest {
    @TempDir Path dir;

    @ParameterizedTest @ValueSource(strings = {"mlp", "cnn"})
    void seededTrainingGivesIdenticalCheckpointsInTwoJvms(String model) throws Exception {
        Path a = train(model, "c1", List.of("-XX:TieredStopAtLevel=1"));
        Path b = train(model, "c2", List.of("-Xbatch", "-XX:-TieredCompilation", "-XX:CompileThreshold=200"));
        List<String> differ = new ArrayList<>();
        try (Safetensors.Contents ca = Safetensors.read(a); Safetensors.Contents cb = Safetensors.read(b)) {
            assertEquals(ca.tensors().keySet(), cb.tensors().keySet());
            for (String name : ca.tensors().keySet())
                if (!sameBits(ca.get(name), cb.get(name))) differ.add(name);
            assertEquals(List.of(), differ, model + ": tensors that differ between the two runs");
            assertEquals(ca.metadata(), cb.metadata());
        }
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), model + ": checkpoint files differ");
    }

    private static boolean sameBits(Tensor x, Tensor y) {
        if (x.dtype() != y.dtype() || !java.util.Arrays.equals(x.shape(), y.shape())) return false;
        double[] u = x.toDoubleArray(), v = y.toDoubleArray();
        for (int i = 0; i < u.length; i++) if (Double.doubleToRawLongBits(u[i]) != Double.doubleToRawLongBits(v[i])) return false;
        return true;
    }

    private Path train(String model, String tag, List<String> flags) throws Exception {
        Path ckpt = dir.resolve(model + "-" + tag + ".ckpt");
        List<String> jvm = new ArrayList<>(flags);
        jvm.add("-Xmx768m");
        try (ChildJvm child = new ChildJvm(Main.class, jvm, "train", "--model", model, "--epochs", "1", "--limit", "96",
                "--batch", "32", "--seed", "7", "--threads", "2", "--no-progress", "--save", ckpt.toString())) {
            int code = child.waitFor(300_000);
            if (code != 0) throw new AssertionError(model + " " + tag + ": train exit code " + code + "; output: " + child.kill());
        }
        return ckpt;
    }
}
