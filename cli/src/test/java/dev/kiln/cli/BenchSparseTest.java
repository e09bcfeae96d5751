package dev.kiln.cli;

import dev.kiln.compress.sparse.SparseCrossover;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bench sparse} run directly (the lead registers it under {@code kiln bench}). */
class BenchSparseTest {
    @TempDir Path dir;

    @Test
    void tinyRunPrintsTableAndWritesJsonAndCrossover() throws Exception {
        Path json = dir.resolve("s.json"), cross = dir.resolve("c.json");
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new BenchSparse());
        cl.setOut(new PrintWriter(out, true));
        int code = cl.execute("--size", "64", "--sparsities", "0.5,0.9", "--threads", "1", "--runs", "1", "--warmup", "0",
                "--json", json.toString(), "--crossover", cross.toString());
        assertEquals(0, code, out.toString());
        assertTrue(out.toString().contains("GFLOP/s-eff") && out.toString().contains("bsr4x4-blockmask"), out.toString());
        String text = Files.readString(json);
        assertTrue(text.contains("\"format\":\"2:4\"") && text.contains("\"crossover\":{"), text);
        SparseCrossover t = SparseCrossover.parse(Files.readString(cross), "c.json");
        assertEquals(6, t.curves().size(), "csr, bsr4x4, 2:4 x batches 64 and 1");
    }

    @Test
    void badOptionsAreRejected() {
        CommandLine cl = new CommandLine(new BenchSparse());
        cl.setErr(new PrintWriter(new StringWriter(), true));
        assertTrue(cl.execute("--sparsities", "1.5", "--size", "8") != 0);
    }
}
