package dev.kiln.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;
import dev.kiln.tensor.Tensor;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    // ------------------------------------------------------------------ regression tests for findings

    static byte[] finding(Class<?> test, String path) throws IOException {
        try (InputStream in = test.getResourceAsStream(test.getSimpleName() + "Inputs/" + path)) {
            return in.readAllBytes();
        }
    }

    /** Fuzzer finding: a header escape quoting a newline made a two-line error; header text is escaped. */
    @Test
    void findingControlCharacterInHeaderError() throws Exception {
        byte[] data = finding(NpyFuzzTest.class, "npy/finding-control-character-in-header-error");
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> Npy.read(ByteBuffer.wrap(data), "fuzz.npy"));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(e.getMessage().startsWith("fuzz.npy: bad header"), e.getMessage());
    }

    /** Fuzzer finding (tools/fuzz.sh, 2 s): an empty 'descr' string threw StringIndexOutOfBoundsException. */
    @Test
    void findingEmptyDescr() throws Exception {
        byte[] data = finding(NpyFuzzTest.class, "npy/finding-empty-descr");
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> Npy.read(ByteBuffer.wrap(data), "fuzz.npy"));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        assertTrue(e.getMessage().startsWith("fuzz.npy: "), e.getMessage());
    }

    /** Fuzzer finding: a deflated member cut short escaped as a bare EOFException from the inflater. */
    @Test
    void findingTruncatedDeflateEof() throws Exception {
        Path p = FuzzChecks.write("finding.npz", finding(NpyFuzzTest.class, "npz/finding-truncated-deflate-eof"));
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> Npz.read(p));
        assertTrue(e.getMessage().contains("corrupt compressed data"), e.getMessage());
    }

    /** Fuzzer finding: the JDK's zip reader threw a bare EOFException while looking for the end record. */
    @Test
    void findingEofInEndRecord() throws Exception {
        Path p = FuzzChecks.write("finding.npz", finding(NpyFuzzTest.class, "npz/finding-eof-in-end-record"));
        KilnFormatException e = assertThrows(KilnFormatException.class, () -> Npz.read(p));
        assertTrue(e.getMessage().contains("not a valid .npz (zip) file"), e.getMessage());
    }
}
