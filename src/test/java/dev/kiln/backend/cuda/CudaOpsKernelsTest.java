package dev.kiln.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.tensor.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/**
 * The host-side logic of the CUDA backend that needs no GPU: the KilnIndexer bytes (layout of
 * kernels/kiln_common.cuh, dim dropping and merging), the reduction axis grouping, and the view
 * arithmetic behind bit-exact strided copies.
 */
class CudaOpsKernelsTest {
    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static long stride(ByteBuffer b, int operand, int dim) {
        return b.getLong(8 + 8 * 8 + 8 * (operand * 8 + dim));
    }

    @Test
    void indexerMatchesTheStructLayout() {
        // out (45, 65) contiguous, a transposed (65, 45)^T, b broadcast row (65)
        ByteBuffer b = le(CudaOpsKernels.indexer(new int[] {45, 65}, new long[] {65, 1}, new long[] {1, 45}, new long[] {0, 1}));
        assertEquals(288, b.capacity());
        assertEquals(2, b.getInt(0));
        assertEquals(0, b.getInt(4));
        assertEquals(45, b.getLong(8));
        assertEquals(65, b.getLong(16));
        assertEquals(0, b.getLong(24));
        assertEquals(65, stride(b, 0, 0));
        assertEquals(1, stride(b, 0, 1));
        assertEquals(1, stride(b, 1, 0));
        assertEquals(45, stride(b, 1, 1));
        assertEquals(0, stride(b, 2, 0));
        assertEquals(1, stride(b, 2, 1));
        for (int k = 0; k < 3; k++) assertEquals(0, b.getLong(264 + 8 * k), "offsets are 0: pointers are pre-advanced");
    }

    @Test
    void indexerDropsUnitDimsAndMergesContiguousOnes() {
        ByteBuffer b = le(CudaOpsKernels.indexer(new int[] {2, 1, 3, 4}, new long[] {12, 99, 4, 1}, new long[] {24, 7, 8, 2}));
        assertEquals(1, b.getInt(0), "all dims merge into one");
        assertEquals(24, b.getLong(8));
        assertEquals(1, stride(b, 0, 0));
        assertEquals(2, stride(b, 1, 0));
        ByteBuffer scalar = le(CudaOpsKernels.indexer(new int[] {1, 1}, new long[] {5, 5}));
        assertEquals(0, scalar.getInt(0));
    }

    @Test
    void indexerRejectsMoreThanEightUnmergeableDims() {
        int[] shape = new int[9];
        long[] st = new long[9];
        java.util.Arrays.fill(shape, 2);
        for (int i = 0; i < 9; i++) st[i] = 1L << (2 * (8 - i)); // gaps: nothing merges
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> CudaOpsKernels.indexer(shape, st));
        assertTrue(e.getMessage().contains("at most 8"), e.getMessage());
    }

    @Test
    void reductionGroupsAreTrailingOrLeading() {
        assertArrayEquals(new long[] {3, 35, 1}, CudaOpsReduce.groups(new int[] {3, 5, 7}, new int[] {1, 2}));
        assertArrayEquals(new long[] {15, 7, 0}, CudaOpsReduce.groups(new int[] {3, 5, 7}, new int[] {0, 1}));
        assertArrayEquals(new long[] {1, 105, 1}, CudaOpsReduce.groups(new int[] {3, 5, 7}, new int[] {0, 1, 2}));
        assertArrayEquals(new long[] {3, 7, 1}, CudaOpsReduce.groups(new int[] {3, 1, 7}, new int[] {1, 2}));
        assertArrayEquals(new long[] {1, 7, 1}, CudaOpsReduce.groups(new int[] {1, 7}, new int[] {1}));
        assertNull(CudaOpsReduce.groups(new int[] {3, 1, 7}, new int[] {1}));
        assertArrayEquals(new long[] {21, 5, 2}, CudaOpsReduce.groups(new int[] {3, 5, 7}, new int[] {1}));
        assertArrayEquals(new long[] {5, 21, 2}, CudaOpsReduce.groups(new int[] {3, 5, 7}, new int[] {0, 2}));
        assertArrayEquals(new int[] {0, 2, 1}, CudaOpsReduce.keptThenReduced(3, new int[] {1}));
        assertArrayEquals(new int[] {1, 0, 2}, CudaOpsReduce.keptThenReduced(3, new int[] {0, 2}));
    }

    @Test
    void reinterpretAddsAByteLaneDim() {
        CudaOpsView v = new CudaOpsView(4096, DType.F64, new int[] {45, 65}, new long[] {1, 45});
        CudaOpsView r = v.reinterpret(DType.I32);
        assertArrayEquals(new int[] {45, 65, 2}, r.shape());
        assertArrayEquals(new long[] {2, 90, 1}, r.strides());
        assertEquals(DType.I32, r.dtype());
        assertEquals(v.bytes(), r.bytes());
        assertFalse(r.isContiguous());
        assertTrue(CudaOpsView.contiguous(0, DType.F64, new int[] {45, 65}).reinterpret(DType.I32).isContiguous());
        CudaOpsView p = v.permute(new int[] {1, 0});
        assertArrayEquals(new int[] {65, 45}, p.shape());
        assertTrue(p.isContiguous());
    }
}
