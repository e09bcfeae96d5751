package dev.kiln.savedmodel;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;
import dev.kiln.io.KilnFormatException;
import dev.kiln.onnx.OnnxExecutor;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzzes the SavedModel reader: the graph protobuf ({@code saved_model.pb}: parse, then lower every
 * signature, variables absent) and the checkpoint index (the SSTable: open, then read every
 * entry against a data shard of 4 KB). Seeds: the fixtures' own files. The documented failure is a
 * {@link KilnFormatException} naming the file (plus NoSuchFileException for a shard the index names
 * but the directory lacks).
 */
class SavedModelFuzzTest {
    @FuzzTest(maxDuration = "2m")
    void savedModelPb(byte[] data) throws Exception {
        Path dir = Files.createDirectories(FuzzChecks.scratchDir().resolve("sm-pb"));
        Path pb = Files.write(dir.resolve("saved_model.pb"), data);
        FuzzChecks.expectCleanOutcome(pb.toString(), () -> {
            SavedModel sm = SavedModel.load(dir);
            SavedModelInfo.describe(sm);
            for (String sig : sm.signatures().keySet()) {
                try {
                    OnnxExecutor.release(sm.toOnnx(sig));
                } catch (KilnFormatException e) {
                    if (!e.getMessage().contains(pb.toString())) throw new AssertionError("unclear error: " + e.getMessage(), e);
                }
            }
        }, KilnFormatException.class);
    }

    @FuzzTest(maxDuration = "2m")
    void checkpointIndex(byte[] data) throws Exception {
        Path dir = Files.createDirectories(FuzzChecks.scratchDir().resolve("sm-index"));
        Path index = Files.write(dir.resolve("variables.index"), data);
        Files.write(dir.resolve("variables.data-00000-of-00001"), new byte[4096]);
        FuzzChecks.expectCleanOutcome(index.toString(), () -> {
            TensorBundle b = TensorBundle.open(dir.resolve("variables"));
            for (String key : b.entries().keySet()) {
                try {
                    b.read(key).tensor().close();
                } catch (KilnFormatException | java.nio.file.NoSuchFileException e) {
                    if (e.getMessage() == null || e.getMessage().lines().count() != 1) throw new AssertionError("unclear error: " + e.getMessage(), e);
                }
            }
        }, KilnFormatException.class);
    }

    /** Fuzzer finding: a signature key holding a newline made a two-line error (the field path); keys are escaped. */
    @org.junit.jupiter.api.Test
    void findingControlCharacterInSignatureKey() throws Exception {
        Path dir = Files.createDirectories(FuzzChecks.scratchDir().resolve("sm-finding"));
        Files.write(dir.resolve("saved_model.pb"), FuzzChecks.finding(SavedModelFuzzTest.class,
                "savedModelPb/finding-control-character-in-signature-key"));
        KilnFormatException e = org.junit.jupiter.api.Assertions.assertThrows(KilnFormatException.class, () -> SavedModel.load(dir));
        org.junit.jupiter.api.Assertions.assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }
}
