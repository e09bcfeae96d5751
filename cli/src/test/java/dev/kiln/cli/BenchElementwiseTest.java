package dev.kiln.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchElementwiseTest {
    @TempDir Path dir;

    @Test
    void smallRunWritesJsonRows() throws Exception {
        Path json = dir.resolve("ew.json");
        CliRun r = CliRun.of("bench", "elementwise", "--size", "4096", "--runs", "1", "--warmup", "0", "--threads", "1", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        String text = Files.readString(json);
        assertTrue(text.startsWith("{\"meta\": {\"date\": ") && text.contains("\"cpu\": ") && text.contains("\"jdk\": ")
                && text.contains("\"default_threads\": ") && text.contains("\"rows\": ["), text);
        List<String> names = Pattern.compile("\"name\":\"([^\"]+)\"").matcher(text).results().map(m -> m.group(1)).toList();
        assertEquals(List.of("add f32 4K t1 kernel", "add f32 4K t1 api", "mul f32 4K t1 kernel", "mul f32 4K t1 api",
                "exp f32 4K t1 kernel", "exp f32 4K t1 api", "sum f32 4K t1 api", "softmax f32 4K rows of 1024 t1 kernel",
                "alloc+zero f32 4K t1"), names);
        Matcher m = Pattern.compile("\"unit\":\"GB/s\",\"kiln\":([0-9.]+),\"peer\":\"memcpy t1\",\"peer_value\":([0-9.]+)").matcher(text);
        int rows = 0;
        while (m.find()) {
            rows++;
            assertTrue(Double.parseDouble(m.group(1)) > 0 && Double.parseDouble(m.group(2)) > 0, m.group());
        }
        assertEquals(9, rows, text);
    }

    @Test
    void missingJsonFolderFailsBeforeRunning() {
        CliRun r = CliRun.of("bench", "elementwise", "--json", dir.resolve("no/such/dir/x.json").toString());
        assertEquals(2, r.code());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("folder for --json does not exist"), r.err());
        assertFalse(r.out().contains("memcpy"), r.out());
    }

    @Test
    void badThreadCountIsBadInput() {
        assertEquals(2, CliRun.of("bench", "elementwise", "--threads", "0").code());
    }

    @Test
    void parallelCopyCopiesEveryByte() {
        try (var arena = java.lang.foreign.Arena.ofShared()) {
            int n = 1000 * 4 + 12; // not a multiple of 64 or of the piece size
            var from = arena.allocate(n);
            var to = arena.allocate(n);
            for (int i = 0; i < n; i++) from.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + 1));
            BenchElementwise.parallelCopy(from, to, 3);
            assertEquals(-1L, from.mismatch(to));
        }
    }

    @Test
    void sizeLabels() {
        assertEquals("16M", BenchElementwise.sizeLabel(16777216));
        assertEquals("64K", BenchElementwise.sizeLabel(65536));
        assertEquals("1000", BenchElementwise.sizeLabel(1000));
    }
}
