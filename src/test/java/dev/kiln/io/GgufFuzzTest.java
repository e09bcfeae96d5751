package dev.kiln.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;

import java.nio.file.Path;

/**
 * Fuzzes the GGUF reader: header, metadata of every value type, tensor infos, and every tensor read
 * as float (F32 in place, F16/BF16 converted, Q8_0/Q4_0 dequantized). Seed: the tiny Llama in Q4_0
 * (its metadata holds strings, arrays of strings and int32, floats and integers). Any input must read
 * or fail with a one-line KilnFormatException naming the file.
 */
class GgufFuzzTest {
    @FuzzTest(maxDuration = "2m")
    void gguf(byte[] data) throws Exception {
        Path p = FuzzChecks.write("fuzz.gguf", data);
        FuzzChecks.expectCleanOutcome(p.toString(), () -> {
            try (Gguf g = Gguf.open(p)) {
                for (Gguf.TensorInfo t : g.tensors().values()) if (t.elements() <= 1 << 22) g.f32(t).close();
            }
        }, KilnFormatException.class);
    }

    /** Fuzzer finding: a tensor name with binary bytes made a multi-line error; such names are refused in one line. */
    @org.junit.jupiter.api.Test
    void findingBinaryTensorName() throws Exception {
        byte[] data;
        try (java.io.InputStream in = GgufFuzzTest.class.getResourceAsStream("GgufFuzzTestInputs/gguf/finding-binary-tensor-name")) {
            data = in.readAllBytes();
        }
        Path p = FuzzChecks.write("finding.gguf", data);
        KilnFormatException e = org.junit.jupiter.api.Assertions.assertThrows(KilnFormatException.class, () -> Gguf.open(p).close());
        org.junit.jupiter.api.Assertions.assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("control characters"), e.getMessage());
    }
}
