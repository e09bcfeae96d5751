package dev.kiln.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;

import java.io.UncheckedIOException;
import java.nio.file.Path;

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
}
