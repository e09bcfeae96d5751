package dev.kiln.tensor;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Memory lifetime: scopes, views outliving their base, the Cleaner safety net, and flat memory in
 * allocate/close loops. Storage counters are global and the Cleaner may free other tests' garbage
 * at any time (which only lowers them), so checks are upper bounds plus per-storage release flags.
 */
class TensorMemoryTest {
    private static final int MB = 1 << 20;

    @Test
    void derivedDataThatHoldsMemoryIsClosedWithItsStorage() {
        class Held implements AutoCloseable {
            int closes;
            @Override public void close() { closes++; }
        }
        Tensor w = Tensor.fromArray(new float[]{1, 2, 3}, 3);
        w.storage().seal();
        Held a = w.storage().derived("a", k -> new Held());
        assertTrue(a == w.storage().derived("a", k -> new Held()), "made once per key");
        Tensor view = w.reshape(1, 3);
        w.close();
        assertEquals(0, a.closes, "a view still holds the storage");
        view.close();
        assertEquals(1, a.closes, "closed when the last tensor lets go");

        Tensor u = Tensor.fromArray(new float[]{1, 2}, 2);
        u.storage().seal();
        Held b = u.storage().derived("b", k -> new Held());
        u.storage().unseal();
        assertEquals(1, b.closes, "unseal drops and closes derived data");
        u.close();
        assertEquals(1, b.closes);
    }

    @Test
    void scopeClosesEverythingCreatedInside() {
        long bytes = Storage.liveBytes();
        int count = Storage.liveCount();
        List<Storage> made = new ArrayList<>();
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(DType.F32, 256, 256);
            Tensor v = a.t().reshape(-1);              // view chain + a copy inside reshape
            Tensor c = Tensor.rand(new Generator(1), 64).to(DType.F64);
            made.add(a.storage());
            made.add(v.storage());
            made.add(c.storage());
            assertTrue(Storage.liveBytes() >= bytes + 2 * 256 * 256 * 4);
        }
        for (Storage st : made) assertTrue(st.isReleased());
        assertTrue(Storage.liveBytes() <= bytes, "scope leaked " + (Storage.liveBytes() - bytes) + " bytes");
        assertTrue(Storage.liveCount() <= count);
    }

    @Test
    void largeBlocksAreMappedZeroedAlignedReusedAndUnmapped() {
        long bytes = 3L * MB + 4096;                 // above the mapping threshold, not a whole number of huge pages
        HostAllocator.Block b = HostAllocator.allocate(bytes);
        assertEquals(HostAllocator.HUGE_PAGES, b.mapped(), "blocks of 2 MiB and more are mapped where madvise exists");
        if (b.mapped()) assertEquals(0, b.aligned() % (2L * MB), "a mapped block starts on a huge-page boundary");
        java.lang.foreign.MemorySegment seg = java.lang.foreign.MemorySegment.ofAddress(b.aligned()).reinterpret(bytes);
        for (long i = 0; i < bytes; i += 4093) assertEquals(0, seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i), "fresh blocks are zero");
        seg.fill((byte) 7);
        HostAllocator.free(b);
        HostAllocator.Block again = HostAllocator.allocate(bytes);   // from the cache, zero-filled again
        assertEquals(b.aligned(), again.aligned());
        java.lang.foreign.MemorySegment seg2 = java.lang.foreign.MemorySegment.ofAddress(again.aligned()).reinterpret(bytes);
        for (long i = 0; i < bytes; i += 4093) assertEquals(0, seg2.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i));
        HostAllocator.free(again);
        long freesBefore = HostAllocator.stats().systemFrees();
        HostAllocator.emptyCache();                  // munmap for mapped blocks, free for the rest
        assertTrue(HostAllocator.stats().systemFrees() > freesBefore);
    }

    @Test
    void keptTensorsSurviveAndMoveToTheParentScope() {
        long bytes = Storage.liveBytes();
        Tensor kept;
        Storage tmp, keptStorage;
        try (Scope outer = Scope.open()) {
            try (Scope inner = Scope.open()) {
                Tensor t = Tensor.full(3, DType.F32, MB / 4);
                tmp = Tensor.zeros(DType.F32, MB / 4).storage();
                kept = inner.keep(t.reshape(512, -1));
                t.close();
            }
            assertTrue(tmp.isReleased(), "the unkept temporary is freed by the inner scope");
            keptStorage = kept.storage();
            assertFalse(keptStorage.isReleased());
            assertEquals(3.0, kept.getDouble(511, 511), "a kept view still reads its (closed) base's memory");
            assertTrue(Storage.liveBytes() <= bytes + MB);
        }
        assertTrue(kept.isClosed(), "the kept tensor belongs to the outer scope, which closed it");
        assertTrue(keptStorage.isReleased());
        assertThrows(IllegalStateException.class, kept::storage, "a closed tensor refuses access to its memory");
        assertTrue(Storage.liveBytes() <= bytes);

        Tensor orphan;
        try (Scope only = Scope.open()) {
            orphan = only.keep(Tensor.ones(8));
        }
        assertFalse(orphan.isClosed(), "kept with no parent scope: the caller owns it");
        Storage orphanStorage = orphan.storage();
        orphan.close();
        assertTrue(orphanStorage.isReleased());
    }

    @Test
    void scopesMustCloseInOrderAndStayUsableAfterAMistake() {
        Scope outer = Scope.open();
        Scope inner = Scope.open();
        assertThrows(IllegalStateException.class, outer::close);
        inner.close();
        outer.close(); // the failed close above must not have marked outer closed without popping it
        // a stale scope left on the stack would hold every new tensor, so the Cleaner could never free it
        long before = Storage.freedCount();
        assertTrue(awaitFreed(allocateAndDrop(), before), "a tensor dropped after the mistake was never freed: a scope is stuck on the stack");
    }

    @Test
    void closingTheBaseKeepsViewsValid() {
        Tensor base = Tensor.arange(0, 1000, 1, DType.F32);
        Storage st = base.storage();
        Tensor view = base.slice(0, 500, 1000, 5);
        Tensor view2 = view.reshape(10, 10);
        base.close();
        base.close(); // idempotent
        assertFalse(st.isReleased());
        assertEquals(995.0, view2.getDouble(9, 9));
        view.close();
        assertEquals(500.0, view2.getDouble(0, 0));
        view2.close();
        assertTrue(st.isReleased());
        assertThrows(IllegalStateException.class, () -> base.reshape(10, 100), "a view of released memory must fail");
        assertThrows(IllegalStateException.class, () -> view2.getDouble(0, 0), "reading a closed tensor must fail");
        assertTrue(st.isReleased(), "a failed retain must not resurrect the storage");
    }

    /** A dropped tensor and view; returns a weak reference to their storage and the free count before. */
    private static java.lang.ref.WeakReference<Storage> allocateAndDrop() {
        Tensor t = Tensor.zeros(DType.F64, MB);       // 8 MiB, never closed
        Tensor v = t.t().unsqueeze(0);                // a view, also dropped
        v.setDouble(1.0, 0, 5);
        return new java.lang.ref.WeakReference<>(t.storage());
    }

    /** Runs the GC until the storage is unreachable and the Cleaner has freed a block (true) or 20 s pass. */
    private static boolean awaitFreed(java.lang.ref.WeakReference<Storage> ref, long freedBefore) {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while ((ref.get() != null || Storage.freedCount() <= freedBefore) && System.nanoTime() < deadline) {
            System.gc();
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return ref.get() == null && Storage.freedCount() > freedBefore;
    }

    @Test
    void cleanerFreesDroppedTensors() {
        long before = Storage.freedCount();
        var ref = allocateAndDrop();
        assertTrue(awaitFreed(ref, before), "the Cleaner did not free a dropped tensor within 20 s");
    }

    @Test
    void allocateCloseLoopKeepsMemoryFlat() {
        long bytes = Storage.liveBytes();
        int count = Storage.liveCount();
        for (int i = 0; i < 1000; i++) {
            try (Tensor t = Tensor.zeros(DType.F32, 128, 128); Tensor v = t.t(); Tensor c = v.contiguous()) {
                c.setDouble(i, 0, 0);
            }
            try (Scope s = Scope.open()) {
                Tensor.ones(DType.BF16, 64, 64).to(DType.F32).reshape(-1);
            }
        }
        assertTrue(Storage.liveBytes() <= bytes, "leaked " + (Storage.liveBytes() - bytes) + " bytes");
        assertTrue(Storage.liveCount() <= count);
    }

    @Test
    void emptyTensorsAllocateNothingVisible() {
        long bytes = Storage.liveBytes();
        try (Tensor e = Tensor.zeros(DType.F64, 0, 100)) {
            assertEquals(0, e.storage().byteSize());
            assertTrue(Storage.liveBytes() <= bytes);
        }
    }
}
