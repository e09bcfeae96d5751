package dev.kiln.compress.sparse;

import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SparseFormatsTest {
    private static final int[][] SHAPES = {{1, 1}, {1, 7}, {5, 1}, {7, 33}, {13, 17}, {16, 64}, {33, 130}};
    private static final double[] SPARSITY = {0, 0.5, 0.9, 0.99, 1.0};

    @Test
    void everyFormatRoundTripsExactly() {
        int seed = 0;
        for (int[] s : SHAPES)
            for (double sp : SPARSITY) {
                float[] d = SparseTestData.withSpecialRows(SparseTestData.random(seed++, s[0], s[1], sp), s[0], s[1], 0, s[0] / 2);
                String at = s[0] + "x" + s[1] + " @" + sp;
                assertArrayEquals(d, CsrMatrix.fromDense(d, s[0], s[1]).toDenseArray(), "csr " + at);
                assertArrayEquals(d, BsrMatrix.fromDense(d, s[0], s[1]).toDenseArray(), "bsr " + at);
                float[] d24 = Sparse24Matrix.keepLargestTwoOfFour(d.clone(), s[0], s[1]);
                assertArrayEquals(d24, Sparse24Matrix.fromDense(d24, s[0], s[1]).toDenseArray(), "2:4 " + at);
            }
    }

    @Test
    void tensorAndMaskConstructorsAgree() {
        float[] d = SparseTestData.random(3, 6, 10, 0.0);
        float[] m = SparseTestData.random(4, 6, 10, 0.6);
        float[] expected = d.clone();
        for (int i = 0; i < d.length; i++) if (m[i] == 0) expected[i] = 0;
        try (Tensor w = Tensor.fromArray(d, 6, 10); Tensor mask = Tensor.fromArray(m, 6, 10)) {
            assertArrayEquals(expected, CsrMatrix.fromMask(w, mask).toDenseArray());
            assertArrayEquals(expected, BsrMatrix.fromMask(w, mask).toDenseArray());
            assertArrayEquals(d, CsrMatrix.fromDense(w).toDenseArray());
            try (Tensor back = CsrMatrix.fromDense(w).toDense()) { assertArrayEquals(d, back.toFloatArray()); }
        }
    }

    @Test
    void byteAccounting() {
        float[] d = new float[8 * 8];
        d[0] = 1; d[9] = 2; d[63] = 3;                       // 3 nonzeros in blocks (0,0) and (1,1)
        CsrMatrix csr = CsrMatrix.fromDense(d, 8, 8);
        assertEquals(3 * 4 + 3 * 4 + 9 * 4, csr.bytes());
        assertEquals(256, csr.denseBytes());
        BsrMatrix bsr = BsrMatrix.fromDense(d, 8, 8);
        assertEquals(2, bsr.blocks());
        assertEquals(2 * 64 + 2 * 4 + 3 * 4, bsr.bytes());
        Sparse24Matrix s24 = Sparse24Matrix.fromDense(new float[4 * 64], 4, 64);   // 16 groups per row
        assertEquals(4 * 32 * 4 + 4 * 2 * 4, s24.bytes());
        assertTrue(s24.bytes() < 0.54 * s24.denseBytes());
        assertEquals(1 - 3 / 64.0, csr.sparsity(), 1e-12);
    }

    @Test
    void twoFourRefusesADenseGroupNamingTheRow() {
        float[] d = new float[3 * 8];
        d[2 * 8 + 4] = 1; d[2 * 8 + 5] = 1; d[2 * 8 + 7] = 1;    // row 2, group 1: 3 nonzeros
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Sparse24Matrix.fromDense(d, 3, 8));
        assertTrue(e.getMessage().contains("row 2") && e.getMessage().contains("columns 4..7"), e.getMessage());
    }

    @Test
    void twoFourTailGroupAndPositions() {
        float[] d = {0, 0, 0, 5, /**/ 1, 0, 0, 2, /**/ 0, 3, 4};       // 1 x 11: group 2 is partial
        Sparse24Matrix m = Sparse24Matrix.fromDense(d, 1, 11);
        assertArrayEquals(d, m.toDenseArray());
        assertEquals(3, m.column(0, 1));
        assertEquals(4, m.column(0, 2));
        assertEquals(7, m.column(0, 3));
    }

    @Test
    void badInputsAreClearErrors() {
        try (Tensor t = Tensor.zeros(2, 3, 4); Tensor w = Tensor.zeros(2, 3); Tensor mask = Tensor.zeros(3, 2)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> CsrMatrix.fromDense(t)).getMessage().contains("2-D"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> CsrMatrix.fromMask(w, mask)).getMessage().contains("mask shape"));
        }
    }
}
