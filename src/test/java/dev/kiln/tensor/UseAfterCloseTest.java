package dev.kiln.tensor;

import dev.kiln.io.Safetensors;
import dev.kiln.io.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Use after close: every way of touching a closed tensor (reads, ops as either operand, views,
 * autograd) fails with one clear line naming shape and dtype; a Storage kept past the close of its
 * last tensor, and tensors over a closed memory-mapped file, refuse access instead of reading freed
 * memory. Also checks the host allocator's counters ({@link MemoryStats}) move by exactly one block.
 */
class UseAfterCloseTest {
    @TempDir Path dir;

    private static void assertClosedError(String expectedPart, Executable body) {
        IllegalStateException e = assertThrows(IllegalStateException.class, body);
        assertTrue(e.getMessage().contains(expectedPart), "message '" + e.getMessage() + "' lacks '" + expectedPart + "'");
    }

    @Test
    void everyAccessToAClosedTensorFailsClearly() {
        Tensor t = Tensor.fromArray(new float[]{1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor other = Tensor.ones(2, 3);
        t.close();
        String msg = "kiln: tensor used after close: shape [2, 3] float32";
        List<Executable> uses = List.of(
                () -> t.getDouble(0, 0), t::toFloatArray, () -> t.getFlat(1), t::segment, t::storage,
                () -> t.setDouble(1, 0, 0), () -> t.add(other), () -> other.mul(t), () -> t.matmul(other.t()),
                t::relu, t::sum, () -> t.softmax(1), () -> t.reshape(3, 2), t::t, () -> t.slice(0, 0, 1, 1),
                t::detach, t::clone, () -> t.to(DType.F64), () -> other.copyFrom(t), () -> Tensor.where(other.gt(other), t, other));
        for (Executable use : uses) assertClosedError(msg, use);
        other.close();
    }

    @Test
    void theMessageNamesTheTensorsDtype() {
        Tensor t = Tensor.zeros(DType.I64, 4);
        t.close();
        assertClosedError("shape [4] int64", () -> t.getLong(0));
    }

    @Test
    void aViewKeepsMemoryAliveAndTheStorageRefusesAccessOnceAllAreClosed() {
        Tensor base = Tensor.arange(0, 12, 1, DType.F32);
        Storage st = base.storage();
        Tensor view;
        try (Tensor r = base.reshape(3, 4)) {
            view = r.t();
        }
        base.close();
        assertEquals(7.0, view.getDouble(3, 1), "the view still owns the memory after its base was closed");
        assertClosedError("shape [12] float32", () -> base.reshape(4, 3));
        view.close();
        assertTrue(st.isReleased());
        // a Storage object kept past the close of its last tensor never reads the freed block
        assertClosedError("kiln: tensor memory used after close", () -> st.getDouble(DType.F32, 0));
        assertClosedError("kiln: tensor memory used after close", () -> st.setDouble(DType.F32, 0, 1));
        assertClosedError("kiln: tensor memory used after close", () -> st.getLong(DType.F32, 0));
        assertClosedError("kiln: tensor memory used after close", st::segment);
        assertClosedError("kiln: tensor memory used after close", () -> Tensor.of(st, DType.F32, new int[]{2}, new long[]{1}, 0));
    }

    @Test
    void backwardThroughAClosedSavedTensorFailsInsteadOfReadingFreedMemory() {
        Tensor x = Tensor.randn(new Generator(3), 4, 5).requiresGrad(true);
        Tensor w = Tensor.randn(new Generator(4), 5, 2);
        Tensor y = x.matmul(w).sum();
        w.close(); // saved by matmul for x's gradient
        assertClosedError("used after close: shape [5, 2] float32", y::backward);
        x.close();
        y.close();
    }

    @Test
    void tensorsOfAClosedMemoryMappedFileRefuseAccess() {
        Path f = dir.resolve("w.safetensors");
        try (Tensor w = Tensor.arange(6)) {
            Safetensors.write(f, Map.of("w", w));
        }
        Tensor mapped, view;
        try (SafetensorsFile file = Safetensors.map(f)) {
            mapped = file.get("w");
            view = mapped.reshape(2, 3); // the user's view outlives the file
            assertEquals(5.0, mapped.getDouble(5));
        }
        assertClosedError("used after close: shape [6] float32", () -> mapped.getDouble(5));
        assertFalse(view.isClosed(), "the view is open, but the mapping under it is not");
        assertClosedError("memory-mapped file it views was closed", () -> view.getDouble(1, 2));
        assertClosedError("memory-mapped file it views was closed", view::toFloatArray);
        assertClosedError("memory-mapped file it views was closed", () -> view.add(1.0));
        view.close();
    }

    /**
     * The counters are process-wide and the Cleaner may free other tests' garbage at any moment, so
     * the exact deltas are measured up to five times; wrong accounting fails every attempt.
     */
    @Test
    void hostCountersMoveByExactlyOneBlockPerTensor() {
        String last = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            last = measureOneBlock();
            if (last == null) break;
        }
        assertEquals(null, last);
        assertTrue(MemoryStats.summary().startsWith("host: in use "));
    }

    /** null when allocating and closing one 4000-byte tensor moved the counters exactly, else what differed. */
    private static String measureOneBlock() {
        MemoryStats.Snapshot before = MemoryStats.host();
        Tensor t = Tensor.zeros(1000); // 4000 bytes, rounded to 64 B: 4032
        MemoryStats.Snapshot during = MemoryStats.host();
        t.close();
        MemoryStats.Snapshot after = MemoryStats.host();
        if (during.bytesInUse() - before.bytesInUse() != 4032) return "in use grew by " + (during.bytesInUse() - before.bytesInUse());
        if (during.allocations() - before.allocations() != 1) return (during.allocations() - before.allocations()) + " allocations";
        if (during.peakBytesInUse() < during.bytesInUse()) return "peak below in use";
        if (after.bytesInUse() != before.bytesInUse()) return "in use after close " + after.bytesInUse() + " != " + before.bytesInUse();
        if (after.frees() - before.frees() != 1) return (after.frees() - before.frees()) + " frees";
        if (after.cachedBytes() < 4032) return "freed block not cached";
        return null;
    }
}
