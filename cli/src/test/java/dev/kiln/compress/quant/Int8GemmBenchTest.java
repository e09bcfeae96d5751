package dev.kiln.compress.quant;

import dev.kiln.cli.BenchInt8;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A smoke run of `kiln bench int8` on a tiny shape: it finishes and writes its JSON rows. */
class Int8GemmBenchTest {
    @Test void tinyBenchWritesJson(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("int8.json");
        int rc = new CommandLine(new BenchInt8()).execute("--sizes", "16", "--rows", "0", "--threads", "1",
                "--warmup", "0", "--iters", "1", "--json", out.toString());
        assertEquals(0, rc);
        String json = Files.readString(out);
        assertTrue(json.contains("\"int8 vs f32 m=16 n=16 k=16 t=1\""), json);
        assertTrue(json.contains("\"int8 vs peer m=16 n=16 k=16 t=1\""), json);
    }

    @Test void rejectsBadOptions() {
        assertEquals(2, new CommandLine(new BenchInt8()).execute("--iters", "0"));
    }
}
