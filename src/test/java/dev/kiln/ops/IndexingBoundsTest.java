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
    /**
     * index_select along axis 0 of a contiguous CPU tensor (the row-copy path) equals the element gather
     * it replaces: repeated and unordered rows, int32 and int64 indices, 1-d to 3-d, float, double, long
     * and bool; a sliced (offset) table; an out-of-range row is still refused first.
     */
    @Test
    void rowCopiesEqualTheGather() {
        dev.kiln.tensor.Generator g = new dev.kiln.tensor.Generator(3);
        long[] ids = {4, 0, 4, 2, 6, 1};
        for (int[] shape : new int[][] {{7}, {7, 5}, {7, 3, 2}})
            for (dev.kiln.tensor.DType t : new dev.kiln.tensor.DType[] {dev.kiln.tensor.DType.F32, dev.kiln.tensor.DType.F64, dev.kiln.tensor.DType.I64, dev.kiln.tensor.DType.BOOL}) {
                try (Tensor base = Tensor.randn(g, shape).to(t); Tensor idx = Tensor.fromArray(ids, ids.length);
                     Tensor idx32 = idx.to(dev.kiln.tensor.DType.I32); Tensor fast = Indexing.indexSelect(base, 0, idx);
                     Tensor fast32 = Indexing.indexSelect(base, 0, idx32)) {
                    int[] view = new int[shape.length];
                    java.util.Arrays.fill(view, 1);
                    view[0] = ids.length;
                    int[] target = shape.clone();
                    target[0] = ids.length;
                    try (Tensor r = idx.reshape(view); Tensor e = r.expand(target); Tensor want = Indexing.gather(base, 0, e)) {
                        assertArrayEquals(want.toDoubleArray(), fast.toDoubleArray(), t + " " + java.util.Arrays.toString(shape));
                        assertArrayEquals(want.toDoubleArray(), fast32.toDoubleArray(), t + " int32 ids");
                        assertArrayEquals(want.shape(), fast.shape());
                    }
                }
            }
        try (Tensor table = Tensor.randn(g, 10, 4); Tensor part = table.narrow(0, 3, 5); Tensor idx = Tensor.fromArray(new long[] {4, 0}, 2);
             Tensor got = Indexing.indexSelect(part, 0, idx)) {
            assertArrayEquals(new double[] {table.toDoubleArray()[28], table.toDoubleArray()[29]},
                    java.util.Arrays.copyOf(got.toDoubleArray(), 2), "rows of a sliced table");
            assertArrayEquals(java.util.Arrays.copyOfRange(table.toDoubleArray(), 12, 16), java.util.Arrays.copyOfRange(got.toDoubleArray(), 4, 8));
            assertThrows(IndexOutOfBoundsException.class, () -> Indexing.indexSelect(part, 0, Tensor.fromArray(new long[] {5}, 1)));
        }
    }
}
