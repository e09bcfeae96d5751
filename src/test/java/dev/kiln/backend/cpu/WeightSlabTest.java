package dev.kiln.backend.cpu;

import dev.kiln.tensor.MemoryStats;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Pieces of weight memory: small pieces share blocks, large ones get their own, no two pieces
 * overlap, and a block goes back when its last piece is closed. Storage counts are global (other
 * tests' unclosed pieces and the Cleaner move them), so the checks are upper bounds.
 */
class WeightSlabTest {
    private static final int MB = 1 << 20;

    @Test
    void smallPiecesShareBlocksAndAreFreedWithTheirLastPiece() {
        int before = MemoryStats.liveStorages();
        WeightSlab.Piece[] ps = new WeightSlab.Piece[8];
        for (int i = 0; i < ps.length; i++) ps[i] = WeightSlab.allocate(MB + 24L * i + 1);
        assertTrue(MemoryStats.liveStorages() <= before + 1, "8 MB in 1 MB pieces take at most one new block");
        fillAndCheck(ps);
        for (WeightSlab.Piece p : ps) p.close();
        ps[0].close();   // twice: harmless
        assertTrue(MemoryStats.liveStorages() <= before, "blocks go back with their last piece");
    }

    @Test
    void largePiecesAndUnsharedPiecesHaveTheirOwnMemory() {
        int before = MemoryStats.liveStorages();
        try (WeightSlab.Piece big = WeightSlab.allocate(WeightSlab.SLAB_MB * (long) MB / 4)) {
            assertEquals(WeightSlab.SLAB_MB * (long) MB / 4, big.segment.byteSize());
            assertTrue(MemoryStats.liveStorages() <= before + 1);
        }
        boolean share = WeightSlab.share;
        WeightSlab.share = false;
        try {
            WeightSlab.Piece[] ps = new WeightSlab.Piece[3];
            for (int i = 0; i < ps.length; i++) ps[i] = WeightSlab.allocate(100 + i);
            fillAndCheck(ps);
            for (WeightSlab.Piece p : ps) p.close();
        } finally {
            WeightSlab.share = share;
        }
        assertTrue(MemoryStats.liveStorages() <= before);
    }

    /**
     * A block first carved inside a {@link dev.kiln.tensor.Scope} outlives the scope: its pieces
     * (the one made there and later ones from the same block) stay usable until they are closed.
     * (Quantizing a model inside a scope packed int8 weights this way, and the scope's close freed
     * the block under later pieces.)
     */
    @Test
    void aBlockFirstCarvedInsideAScopeOutlivesTheScope() {
        WeightSlab.Piece first;
        try (dev.kiln.tensor.Scope s = dev.kiln.tensor.Scope.open()) {
            first = WeightSlab.allocate(MB);
        }
        WeightSlab.Piece second = WeightSlab.allocate(MB);
        fillAndCheck(new WeightSlab.Piece[]{first, second});
        first.close();
        second.close();
    }

    /** Writes piece i's index into all its bytes, then checks every piece still holds only its own (no overlap) and is 64-byte aligned. */
    private static void fillAndCheck(WeightSlab.Piece[] ps) {
        for (int i = 0; i < ps.length; i++) ps[i].segment.fill((byte) (i + 1));
        for (int i = 0; i < ps.length; i++) {
            MemorySegment s = ps[i].segment;
            assertEquals(0, s.address() % 64, "piece " + i + " alignment");
            assertEquals(i + 1, s.get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(i + 1, s.get(ValueLayout.JAVA_BYTE, s.byteSize() - 1));
        }
    }
}
