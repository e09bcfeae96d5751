package dev.kiln.pickle;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.fuzz.FuzzChecks;
import dev.kiln.io.KilnFormatException;

import java.lang.foreign.MemorySegment;

/**
 * Fuzzes the pickle VM with the torch allow-list and a storage loader, so tensor rebuilds
 * (sizes, strides, offsets against the storage) are reached too. Seeds: Python-written pickles of
 * plain values, the data.pkl of a torch.save archive, a TorchScript module and a checkpoint, a
 * cycle and a hostile pickle. Any input must unpickle or fail with a one-line KilnFormatException.
 * <p>
 * Regression (CI): {@code mvn -o test -Dtest=PickleFuzzTest}. Fuzzing: see docs/SECURITY.md.
 */
class PickleFuzzTest {
    /** Every storage key resolves to the same 64 bytes (enough for small tensors, too few for big ones). */
    private static final MemorySegment STORAGE = MemorySegment.ofArray(new byte[64]);

    @FuzzTest(maxDuration = "30s")
    void unpickle(byte[] data) throws Exception {
        TorchStorages storages = new TorchStorages(key -> key.equals("missing") ? null : STORAGE);
        FuzzChecks.expectCleanOutcome("fuzz.pkl", () -> {
            try {
                Unpickler.load("fuzz.pkl", data, Globals.torch(), storages);
            } finally {
                storages.closeAll();
            }
        }, KilnFormatException.class);
    }
}
