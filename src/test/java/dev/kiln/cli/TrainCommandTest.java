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

    @Test void badInputExitsTwoWithOneLine(@TempDir Path dir) {
        CliRun r = CliRun.of("train", "--model", "resnet", "--epochs", "1", "--limit", "64", "--no-progress");
        assertEquals(2, r.code());
        assertTrue(r.err().strip().lines().count() == 1 && r.err().contains("unknown model"), r.err());
        CliRun d = CliRun.of("train", "--data", dir.resolve("missing").toString(), "--epochs", "1");
        assertEquals(2, d.code());
        assertTrue(d.err().contains("no Fashion-MNIST IDX files"), d.err());
    }
}
