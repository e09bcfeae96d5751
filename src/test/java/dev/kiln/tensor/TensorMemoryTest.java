package dev.kiln.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
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
    void keptTensorsSurviveAndMoveToTheParentScope() {
        long bytes = Storage.liveBytes();
        Tensor kept;
        Storage tmp;
        try (Scope outer = Scope.open()) {
            try (Scope inner = Scope.open()) {
                Tensor t = Tensor.full(3, DType.F32, MB / 4);
                tmp = Tensor.zeros(DType.F32, MB / 4).storage();
                kept = inner.keep(t.reshape(512, -1));
                t.close();
            }
            assertTrue(tmp.isReleased(), "the unkept temporary is freed by the inner scope");
            assertFalse(kept.storage().isReleased());
            assertEquals(3.0, kept.getDouble(511, 511), "a kept view still reads its (closed) base's memory");
            assertTrue(Storage.liveBytes() <= bytes + MB);
        }
        assertTrue(kept.isClosed(), "the kept tensor belongs to the outer scope, which closed it");
        assertTrue(kept.storage().isReleased());
        assertTrue(Storage.liveBytes() <= bytes);

        Tensor orphan;
        try (Scope only = Scope.open()) {
            orphan = only.keep(Tensor.ones(8));
        }
        assertFalse(orphan.isClosed(), "kept with no parent scope: the caller owns it");
        orphan.close();
        assertTrue(orphan.storage().isReleased());
    }

    @Test
    void scopesMustCloseInOrderAndStayUsableAfterAMistake() {
        Scope outer = Scope.open();
        Scope inner = Scope.open();
        assertThrows(IllegalStateException.class, outer::close);
        inner.close();
        outer.close(); // the failed close above must not have marked outer closed without popping it
        // a stale scope left on the stack would hold every new tensor, so the Cleaner could never free it
        assertTrue(awaitFreed(allocateAndDrop()), "a tensor dropped after the mistake was never freed: a scope is stuck on the stack");
    }

    @Test
    void closingTheBaseKeepsViewsValid() {
        Tensor base = Tensor.arange(0, 1000, 1, DType.F32);
        Tensor view = base.slice(0, 500, 1000, 5);
        Tensor view2 = view.reshape(10, 10);
        base.close();
        base.close(); // idempotent
        assertFalse(view.storage().isReleased());
        assertEquals(995.0, view2.getDouble(9, 9));
        view.close();
        assertEquals(500.0, view2.getDouble(0, 0));
        view2.close();
        assertTrue(base.storage().isReleased());
        assertThrows(IllegalStateException.class, () -> base.reshape(10, 100), "a view of released memory must fail");
        assertTrue(base.storage().isReleased(), "a failed retain must not resurrect the storage");
    }

    private static MemorySegment allocateAndDrop() {
        Tensor t = Tensor.zeros(DType.F64, MB);       // 8 MiB, never closed
        Tensor v = t.t().unsqueeze(0);                // a view, also dropped
        v.setDouble(1.0, 0, 5);
        return t.segment();
    }

    /** Runs the GC until seg's memory is freed (true) or 20 s pass (false). */
    private static boolean awaitFreed(MemorySegment seg) {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (seg.scope().isAlive() && System.nanoTime() < deadline) {
            System.gc();
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return !seg.scope().isAlive();
    }

    @Test
    void cleanerFreesDroppedTensors() {
        MemorySegment seg = allocateAndDrop();
        assertTrue(seg.scope().isAlive());
        assertTrue(awaitFreed(seg), "the Cleaner did not free a dropped tensor within 20 s");
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
