package dev.kiln.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class CheckOnnxCommandTest {
    @TempDir Path tmp;

    @Test
    void runsTheTestsAndWritesJson() throws Exception {
        Path json = tmp.resolve("r.json");
        CliRun r = CliRun.of("check-onnx", "src/test/resources/onnx/models", "--filter", "sequence_model|optional",
                "--json", json.toString());
        assertTrue(r.out().contains("op ") && r.out().contains("cases"), r.out());
        assertTrue(r.out().matches("(?s).*\\d+ passed, \\d+ failed\\s*"), r.out());
        assertTrue(r.code() == Main.OK || r.code() == Main.FAILURE, r.err());
        String j = Files.readString(json);
        assertTrue(j.contains("\"test\": \"test_sequence_model1\""), j);
        assertTrue(j.contains("\"ops\": ["), j);
    }

    @Test
    void missingDirectoryIsBadInput() {
        CliRun r = CliRun.of("check-onnx", tmp.resolve("nope").toString());
        assertEquals(Main.BAD_INPUT, r.code());
        assertEquals(1, r.errLines().size(), r.err());
        CliRun bad = CliRun.of("check-onnx", tmp.toString(), "--filter", "(");
        assertEquals(Main.BAD_INPUT, bad.code());
    }
}
