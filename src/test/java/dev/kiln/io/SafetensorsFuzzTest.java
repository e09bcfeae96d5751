package dev.kiln.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;

import org.junit.jupiter.api.Test;

import java.io.UncheckedIOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzes the safetensors reader, both ways of opening a file: {@link Safetensors#read} (copies)
 * and {@link Safetensors#map} (memory-mapped views). Seeds: the Python-written fixtures (every
 * dtype; names with escapes and metadata). The documented failures are an IllegalArgumentException
 * (format; exactly that class, so a NumberFormatException does not pass) or an
 * UncheckedIOException (I/O), both naming the file.
 */
class SafetensorsFuzzTest {
    @FuzzTest(maxDuration = "2m")
    void read(byte[] data) throws Exception {
        Path p = FuzzChecks.write("fuzz.safetensors", data);
        FuzzChecks.expectCleanOutcome(p.toString(), () -> {
            try (Safetensors.Contents c = Safetensors.read(p)) {
                c.tensors().size();
            }
        }, IllegalArgumentException.class, UncheckedIOException.class);
        FuzzChecks.expectCleanOutcome(p.toString(), () -> {
            try (SafetensorsFile f = Safetensors.map(p)) {
                f.tensors().size();
            }
        }, IllegalArgumentException.class, UncheckedIOException.class);
    }

    /** Fuzzer finding: a JSON escape quoting a control character made a two-line error; it is escaped. */
    @Test
    void findingControlCharacterInJsonError() throws Exception {
        Path p = FuzzChecks.write("finding.safetensors", NpyFuzzTest.finding(SafetensorsFuzzTest.class, "read/finding-control-character-in-json-error"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Safetensors.read(p));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(e.getMessage().contains("bad escape '\\\\x"), e.getMessage());
    }
}
