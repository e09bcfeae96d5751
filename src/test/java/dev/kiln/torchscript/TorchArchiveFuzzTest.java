package dev.kiln.torchscript;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;
import dev.kiln.io.KilnFormatException;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzes the TorchScript / torch.save zip reader: the hand-written zip parser on its own (end
 * record, zip64, central directory, local headers, stored and deflated members) and a whole
 * {@link TorchArchive} (data.pkl with its storages, constants.pkl, the code/ sources). Seeds are
 * small real archives (torch.save of tensors and of a checkpoint, a scripted and a traced module)
 * and the hostile ones (zip bomb, size lie, "../" name). Any input must read or fail with a
 * one-line KilnFormatException naming the file.
 */
class TorchArchiveFuzzTest {
    @FuzzTest(maxDuration = "2m")
    void zipArchive(byte[] data) throws Exception {
        Path p = FuzzChecks.write("fuzz.zip", data);
        FuzzChecks.expectCleanOutcome(p.toString(), () -> {
            try (ZipArchive zip = ZipArchive.open(p)) {
                for (ZipArchive.Entry e : zip.entries().values()) {
                    zip.read(e);
                    zip.bytes(e);
                }
            }
        }, KilnFormatException.class);
    }

    @FuzzTest(maxDuration = "2m")
    void torchArchive(byte[] data) throws Exception {
        Path p = FuzzChecks.write("fuzz.pt", data);
        FuzzChecks.expectCleanOutcome(p.toString(), () -> {
            try (TorchArchive a = TorchArchive.open(p)) {
                a.version();
                a.code();
                TorchArchive.closeTensors(a.constants());
                TorchArchive.closeTensors(a.data());
            }
        }, KilnFormatException.class);
    }

    // ------------------------------------------------------------------ regression tests for findings

    private static Path finding(String method, String name) throws IOException {
        try (InputStream in = TorchArchiveFuzzTest.class.getResourceAsStream("TorchArchiveFuzzTestInputs/" + method + "/" + name)) {
            return FuzzChecks.write(name, in.readAllBytes());
        }
    }

    /** Fuzzer finding: a member name with a newline made a two-line error; such names are refused. */
    @Test
    void findingControlCharactersInEntryName() throws Exception {
        for (String method : new String[]{"zipArchive", "torchArchive"}) {
            Path p = finding(method, "finding-control-characters-in-entry-name");
            KilnFormatException e = assertThrows(KilnFormatException.class, () -> TorchArchive.open(p).close());
            assertTrue(e.getMessage().contains("(control characters)"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
    }
}
