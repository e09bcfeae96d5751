package dev.kiln.lab;

import dev.kiln.cli.CliRun;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln lab} through the CLI in this JVM: --list, unknown ops, a small timed run with --json. */
class LabCommandTest {
    @Test
    void listNamesOpsAndVariants() {
        CliRun r = CliRun.of("lab", "--list");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("add: kiln (cpu), kiln-scalar (cpu), add-256bit (cpu)"), r.out());
        assertTrue(r.out().contains("gemm: kiln (cpu)"), r.out());
    }

    @Test
    void unknownOpExitsTwoWithOneLine() {
        CliRun r = CliRun.of("lab", "nope");
        assertEquals(2, r.code());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("unknown op 'nope'"), r.err());
        assertEquals(2, CliRun.of("lab", "add", "--device", "tpu").code());
    }

    @Test
    void smallRunPrintsTableAndJson(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path json = dir.resolve("lab.json");
        CliRun r = CliRun.of("lab", "add", "--device", "cpu", "--sizes", "4096", "--runs", "2", "--warmup", "1",
                "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("add-256bit"), r.out());
        assertTrue(r.out().contains("GB/s"), r.out());
        String text = Files.readString(json);
        assertEquals(3, text.lines().filter(l -> l.contains("\"variant\"")).count(), text);
        assertTrue(text.contains("\"valid\": true"), text);
    }
}
