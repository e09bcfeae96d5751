package dev.kiln.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;
import dev.kiln.tensor.Tensor;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;

/**
 * Fuzzes the NumPy readers: .npy from a buffer of known size and from a stream of unknown length
 * (the two allocation paths), and .npz archives (zip of .npy members, stored or deflated). Seeds:
 * NumPy-written fixtures of several dtypes, byte orders, Fortran order and header versions. Any
 * input must read or fail with a one-line KilnFormatException naming the file.
 */
class NpyFuzzTest {
    @FuzzTest(maxDuration = "2m")
    void npy(byte[] data) throws Exception {
        FuzzChecks.expectCleanOutcome("fuzz.npy", () -> {
            try (Tensor t = Npy.read(ByteBuffer.wrap(data), "fuzz.npy")) {
                t.numel();
            }
        }, KilnFormatException.class);
        FuzzChecks.expectCleanOutcome("fuzz.npy", () -> {
            try (Tensor t = Npy.read(new ByteArrayInputStream(data), "fuzz.npy")) {
                t.numel();
            }
        }, KilnFormatException.class);
    }

    @FuzzTest(maxDuration = "2m")
    void npz(byte[] data) throws Exception {
        Path p = FuzzChecks.write("fuzz.npz", data);
        FuzzChecks.expectCleanOutcome(p.toString(), () -> {
            Map<String, Tensor> all = Npz.read(p);
            all.values().forEach(Tensor::close);
        }, KilnFormatException.class);
    }
}
