package dev.kiln.ops;

import dev.kiln.nn.Embedding;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Lookups check every index against the table before reading: the error names the op and the index. */
class IndexingBoundsTest {
    @Test
    void embeddingRejectsIdsOutsideTheTable() {
        Embedding emb = new Embedding(3, 4, new Generator(1));
        try (Tensor ok = Tensor.fromArray(new long[]{2, 0, 1, 2}, 2, 2); Tensor y = emb.forward(ok)) {
            assertArrayEquals(new int[]{2, 2, 4}, y.shape());
            assertEquals(emb.weight().getFlat(2 * 4 + 3), y.getFlat(3), 0.0);
        }
        for (long bad : new long[]{3, -1, Long.MAX_VALUE}) {
            Tensor ids = Tensor.fromArray(new long[]{0, bad}, 2);
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> emb.forward(ids));
            assertTrue(e.getMessage().startsWith("Embedding(3, 4): index " + bad + " is out of range for a table of 3 rows"), e.getMessage());
            assertTrue(e.getMessage().contains("position 1"), e.getMessage());
        }
        Tensor i32 = Tensor.fromArray(new int[]{5}, 1);
        assertTrue(assertThrows(IndexOutOfBoundsException.class, () -> Indexing.embedding("embedding", emb.weight(), i32))
                .getMessage().startsWith("embedding: index 5 "));
        Tensor f = Tensor.zeros(DType.F32, 2);
        assertThrows(IllegalArgumentException.class, () -> emb.forward(f));
    }

    @Test
    void indexSelectRejectsOutOfRangeIndices() {
        Tensor x = Tensor.fromArray(new float[]{1, 2, 3, 4, 5, 6}, 2, 3);
        try (Tensor idx = Tensor.fromArray(new long[]{2, 0}, 2); Tensor y = Indexing.indexSelect(x, 1, idx)) {
            assertArrayEquals(new float[]{3, 1, 6, 4}, y.toFloatArray());
        }
        Tensor bad = Tensor.fromArray(new long[]{0, 3}, 2);
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> Indexing.indexSelect(x, 1, bad));
        assertTrue(e.getMessage().startsWith("index_select: index 3 is out of range for an axis of size 3"), e.getMessage());
    }
}
