package dev.kiln.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Views: which operations share storage, the strides they produce, and their values, checked
 * against index arithmetic on the base tensor. Reshape follows PyTorch's view-vs-copy rule.
 */
class TensorViewTest {
    /** 0, 1, 2, ... as F64 in the given shape; value == C-order flat index of the base. */
    static Tensor seq(int... shape) {
        return Tensor.arange(0, Shape.numel(shape), 1, DType.F64).reshape(shape);
    }

    private static void assertValues(double[] want, Tensor t) {
        assertArrayEquals(want, t.toDoubleArray(), 0.0);
    }

    // ------------------------------------------------------------------ reshape / view

    @Test
    void reshapeOfContiguousIsAView() {
        try (Tensor x = seq(2, 3, 4); Tensor v = x.reshape(6, 4); Tensor w = x.reshape(-1); Tensor u = x.view(4, -1, 3)) {
            assertSame(x.storage(), v.storage());
            assertSame(x.storage(), w.storage());
            assertSame(x.storage(), u.storage());
            assertArrayEquals(new int[]{24}, w.shape());
            assertArrayEquals(new int[]{4, 2, 3}, u.shape());
            assertArrayEquals(new long[]{6, 3, 1}, u.strides());
            v.setDouble(-1, 5, 3);      // writes through the view reach the base
            assertEquals(-1, x.getDouble(1, 2, 3));
        }
    }

    @Test
    void reshapeOfTransposedMergingDimsCopies() {
        try (Tensor x = seq(3, 4); Tensor t = x.t(); Tensor r = t.reshape(12)) {
            assertFalse(t.isContiguous());
            assertNotSame(x.storage(), r.storage(), "merging transposed dims must copy");
            assertTrue(r.isContiguous());
            assertValues(new double[]{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, r);
            r.setDouble(100, 0);       // the copy is independent
            assertEquals(0, x.getDouble(0, 0));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.view(12));
            assertTrue(e.getMessage().contains("view") && e.getMessage().contains("[4, 3]") && e.getMessage().contains("reshape"), e.getMessage());
        }
    }

    @Test
    void reshapeOfNonContiguousSplittingADimIsAView() {
        try (Tensor x = seq(2, 3, 4); Tensor p = x.permute(1, 0, 2); Tensor v = p.reshape(3, 2, 2, 2); Tensor c = p.reshape(6, 4)) {
            assertSame(x.storage(), v.storage(), "splitting the contiguous last dim of a permuted tensor is a view");
            assertArrayEquals(new long[]{4, 12, 2, 1}, v.strides());
            for (int i = 0; i < 3; i++) for (int j = 0; j < 2; j++) for (int k = 0; k < 4; k++)
                assertEquals(x.getDouble(j, i, k), v.getDouble(i, j, k / 2, k % 2));
            assertNotSame(x.storage(), c.storage(), "merging permuted dims 0,1 needs a copy");
            for (int r = 0; r < 6; r++) for (int k = 0; k < 4; k++) assertEquals(x.getDouble(r % 2, r / 2, k), c.getDouble(r, k));
        }
    }

    @Test
    void reshapeOfSteppedSliceAndExpanded() {
        try (Tensor x = seq(4, 6); Tensor all = x.slice(1, 0, 6, 2); Tensor flat = all.reshape(12)) {
            // every other column of all rows is a single stride-2 run: a view, as in PyTorch
            assertSame(x.storage(), flat.storage());
            assertArrayEquals(new long[]{2}, flat.strides());
            assertValues(new double[]{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22}, flat);
        }
        try (Tensor x = seq(4, 6); Tensor s = x.slice(1, 0, 4, 2)) {
            assertArrayEquals(new long[]{6, 2}, s.strides());
            try (Tensor a = s.reshape(2, 2, 2); Tensor b = s.reshape(4, 2, 1); Tensor c = s.reshape(8)) {
                assertSame(x.storage(), a.storage());
                assertSame(x.storage(), b.storage());
                assertNotSame(x.storage(), c.storage(), "rows of 2 out of 6 cannot be merged into one stride");
                assertValues(new double[]{0, 2, 6, 8, 12, 14, 18, 20}, c);
                assertValues(c.toDoubleArray(), a);
                assertValues(c.toDoubleArray(), b);
            }
        }
        try (Tensor row = seq(1, 4); Tensor e = row.expand(3, 4); Tensor v = e.reshape(3, 2, 2); Tensor c = e.reshape(12)) {
            assertSame(row.storage(), v.storage());
            assertArrayEquals(new long[]{0, 2, 1}, v.strides());
            assertNotSame(row.storage(), c.storage());
            assertValues(new double[]{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}, c);
        }
    }

    @Test
    void reshapeErrorsNameTheShapes() {
        try (Tensor x = seq(2, 3)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> x.reshape(4, 2)).getMessage().contains("[2, 3]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> x.reshape(-1, -1)).getMessage().contains("more than one -1"));
            assertThrows(IllegalArgumentException.class, () -> x.reshape(4, -1));
            assertThrows(IllegalArgumentException.class, () -> x.reshape(-2, -3));
            try (Tensor s = x.reshape(1, 6, 1); Tensor z = seq(1).reshape(); Tensor one = z.reshape(1, 1, 1)) {
                assertArrayEquals(new int[]{1, 6, 1}, s.shape());
                assertEquals(0, z.dim());
                assertEquals(3, one.dim());
            }
        }
        try (Tensor e = Tensor.zeros(0, 3); Tensor r = e.reshape(3, 0, 5); Tensor f = e.reshape(-1, 6)) {
            assertArrayEquals(new int[]{3, 0, 5}, r.shape());
            assertArrayEquals(new int[]{0, 6}, f.shape());
        }
    }

    // ------------------------------------------------------------------ permute / transpose / t

    @Test
    void permuteTransposeAndT() {
        try (Tensor x = seq(2, 3, 4); Tensor p = x.permute(2, 0, 1); Tensor q = x.permute(-1, -3, -2);
             Tensor tr = x.transpose(0, -1); Tensor t = x.t()) {
            assertArrayEquals(new int[]{4, 2, 3}, p.shape());
            assertArrayEquals(new long[]{1, 12, 4}, p.strides());
            assertArrayEquals(p.strides(), q.strides());
            assertArrayEquals(new int[]{4, 3, 2}, tr.shape());
            assertArrayEquals(new int[]{2, 4, 3}, t.shape());
            for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 4; k++) {
                double v = x.getDouble(i, j, k);
                assertEquals(v, p.getDouble(k, i, j));
                assertEquals(v, tr.getDouble(k, j, i));
                assertEquals(v, t.getDouble(i, k, j));
            }
            assertTrue(assertThrows(IllegalArgumentException.class, () -> x.permute(0, 0, 1)).getMessage().contains("repeated"));
            assertThrows(IllegalArgumentException.class, () -> x.permute(0, 1));
            assertThrows(IllegalArgumentException.class, () -> x.permute(0, 1, 3));
            assertThrows(IllegalArgumentException.class, () -> x.transpose(0, 3));
        }
        try (Tensor v = seq(5); Tensor t = v.t(); Tensor s = seq(1).reshape(); Tensor st = s.t()) {
            assertArrayEquals(new int[]{5}, t.shape());
            assertEquals(0, st.dim());
        }
    }

    // ------------------------------------------------------------------ narrow / slice / select

    @Test
    void narrowIncludingNegativeStartAndBounds() {
        try (Tensor x = seq(4, 5); Tensor n = x.narrow(1, 1, 3); Tensor last = x.narrow(0, -2, 2); Tensor none = x.narrow(0, 4, 0)) {
            assertArrayEquals(new int[]{4, 3}, n.shape());
            assertEquals(x.getDouble(2, 3), n.getDouble(2, 2));
            assertArrayEquals(new int[]{2, 5}, last.shape(), "narrow(0, -2, 2) is the last two rows");
            assertEquals(x.getDouble(2, 0), last.getDouble(0, 0));
            assertArrayEquals(new int[]{0, 5}, none.shape());
            assertThrows(IllegalArgumentException.class, () -> x.narrow(0, 3, 2), "narrow past the end must fail, not clamp");
            assertThrows(IllegalArgumentException.class, () -> x.narrow(0, -5, 1));
            assertThrows(IllegalArgumentException.class, () -> x.narrow(0, 1, -1));
        }
    }

    @Test
    void sliceWithStepsNegativeIndicesAndClamping() {
        try (Tensor x = seq(10)) {
            Object[][] cases = {
                    {0, 10, 3, new double[]{0, 3, 6, 9}},
                    {1, 10, 3, new double[]{1, 4, 7}},
                    {-3, 10, 1, new double[]{7, 8, 9}},
                    {-3, -1, 1, new double[]{7, 8}},
                    {2, -2, 2, new double[]{2, 4, 6}},
                    {-100, 3, 1, new double[]{0, 1, 2}},
                    {5, 100, 4, new double[]{5, 9}},
                    {7, 3, 1, new double[]{}},
                    {10, 12, 1, new double[]{}},
                    {3, 4, Integer.MAX_VALUE, new double[]{3}},
                    {0, 10, Integer.MAX_VALUE, new double[]{0}},
            };
            for (Object[] c : cases) {
                try (Tensor s = x.slice(0, (int) c[0], (int) c[1], (int) c[2])) {
                    assertArrayEquals((double[]) c[3], s.toDoubleArray(), 0.0, "slice " + c[0] + ":" + c[1] + ":" + c[2]);
                    assertSame(x.storage(), s.storage());
                }
            }
            assertThrows(IllegalArgumentException.class, () -> x.slice(0, 0, 5, 0));
            assertThrows(IllegalArgumentException.class, () -> x.slice(0, 0, 5, -1));
            assertThrows(IllegalArgumentException.class, () -> x.slice(1, 0, 5, 1));
        }
        try (Tensor m = seq(4, 6); Tensor s = m.slice(-1, 1, 6, 2).slice(0, 1, 4, 2)) {
            assertArrayEquals(new int[]{2, 3}, s.shape());
            assertArrayEquals(new long[]{12, 2}, s.strides());
            assertEquals(7, s.offset());
            assertValues(new double[]{7, 9, 11, 19, 21, 23}, s);
        }
    }

    @Test
    void selectRemovesTheAxis() {
        try (Tensor x = seq(3, 4, 5); Tensor a = x.select(1, 2); Tensor b = x.select(-1, -1); Tensor c = x.select(0, 0).select(0, 0)) {
            assertArrayEquals(new int[]{3, 5}, a.shape());
            assertArrayEquals(new int[]{3, 4}, b.shape());
            assertArrayEquals(new int[]{5}, c.shape());
            for (int i = 0; i < 3; i++) for (int k = 0; k < 5; k++) assertEquals(x.getDouble(i, 2, k), a.getDouble(i, k));
            for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) assertEquals(x.getDouble(i, j, 4), b.getDouble(i, j));
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> x.select(1, 4));
            assertTrue(e.getMessage().contains("[3, 4, 5]"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> x.select(1, -5));
            try (Tensor s = seq(3).select(0, 1)) {
                assertEquals(0, s.dim());
                assertEquals(1.0, s.item());
            }
        }
    }

    // ------------------------------------------------------------------ expand / squeeze / unsqueeze

    @Test
    void expandUsesStrideZero() {
        try (Tensor col = seq(3, 1); Tensor e = col.expand(2, 3, 4); Tensor k = col.expand(-1, 5)) {
            assertArrayEquals(new int[]{2, 3, 4}, e.shape());
            assertArrayEquals(new long[]{0, 1, 0}, e.strides());
            assertArrayEquals(new int[]{3, 5}, k.shape());
            for (int a = 0; a < 2; a++) for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) assertEquals(i, e.getDouble(a, i, j));
            e.setDouble(42, 1, 2, 3); // every alias of col[2] sees the write
            assertEquals(42, col.getDouble(2, 0));
            assertEquals(42, e.getDouble(0, 2, 0));
            assertFalse(e.isContiguous());
            assertTrue(assertThrows(IllegalArgumentException.class, () -> col.expand(4, 4)).getMessage().contains("[3, 1]"));
            assertThrows(IllegalArgumentException.class, () -> col.expand(3));
            assertThrows(IllegalArgumentException.class, () -> col.expand(-1, 3, 4));
            assertThrows(IllegalArgumentException.class, () -> col.expand(3, -2), "a negative size other than -1 must fail");
        }
        try (Tensor s = Tensor.scalar(7); Tensor e = s.expand(2, 2)) {
            assertArrayEquals(new long[]{0, 0}, e.strides());
            assertValues(new double[]{7, 7, 7, 7}, e);
        }
    }

    @Test
    void squeezeAndUnsqueezeIncludingNegativeAxes() {
        try (Tensor x = seq(1, 3, 1, 4); Tensor s = x.squeeze(); Tensor s0 = x.squeeze(0); Tensor sn = x.squeeze(-2); Tensor keep = x.squeeze(1)) {
            assertArrayEquals(new int[]{3, 4}, s.shape());
            assertArrayEquals(new int[]{3, 1, 4}, s0.shape());
            assertArrayEquals(new int[]{1, 3, 4}, sn.shape());
            assertArrayEquals(new int[]{1, 3, 1, 4}, keep.shape(), "squeezing a dim that is not 1 is a no-op");
            assertValues(x.toDoubleArray(), s);
            assertThrows(IllegalArgumentException.class, () -> x.squeeze(4));
            assertThrows(IllegalArgumentException.class, () -> x.squeeze(-5));
        }
        try (Tensor x = seq(3, 4); Tensor a = x.unsqueeze(0); Tensor b = x.unsqueeze(-1); Tensor c = x.unsqueeze(1); Tensor d = x.unsqueeze(-3)) {
            assertArrayEquals(new int[]{1, 3, 4}, a.shape());
            assertArrayEquals(new int[]{3, 4, 1}, b.shape());
            assertArrayEquals(new int[]{3, 1, 4}, c.shape());
            assertArrayEquals(new int[]{1, 3, 4}, d.shape());
            for (Tensor t : new Tensor[]{a, b, c, d}) {
                assertTrue(t.isContiguous(), "unsqueeze of a contiguous tensor stays contiguous");
                assertValues(x.toDoubleArray(), t);
            }
            assertThrows(IllegalArgumentException.class, () -> x.unsqueeze(3));
            assertThrows(IllegalArgumentException.class, () -> x.unsqueeze(-4));
        }
        try (Tensor tr = seq(3, 4).t(); Tensor u = tr.unsqueeze(1)) {
            assertArrayEquals(new int[]{4, 1, 3}, u.shape());
            for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) assertEquals(tr.getDouble(i, j), u.getDouble(i, 0, j));
        }
    }

    @Test
    void zeroDimTensorsGiveClearErrors() {
        try (Tensor s = Tensor.scalar(3); Tensor q = s.squeeze(0); Tensor q1 = s.squeeze(-1); Tensor u = s.unsqueeze(0);
             Tensor tr = s.transpose(0, -1)) {
            assertEquals(0, q.dim());
            assertEquals(0, q1.dim());
            assertEquals(0, tr.dim());
            assertEquals(3.0, tr.item());
            assertArrayEquals(new int[]{1}, u.shape());
            assertThrows(IllegalArgumentException.class, () -> s.size(0));
            assertThrows(IllegalArgumentException.class, () -> s.stride(0));
            assertThrows(IllegalArgumentException.class, () -> s.select(0, 0));
            assertThrows(IllegalArgumentException.class, () -> s.slice(0, 0, 1, 1));
            assertThrows(IllegalArgumentException.class, () -> s.narrow(0, 0, 1));
            assertThrows(IllegalArgumentException.class, () -> s.squeeze(1));
            assertThrows(IllegalArgumentException.class, () -> s.transpose(0, 1));
        }
    }

    // ------------------------------------------------------------------ contiguous / clone

    @Test
    void contiguousAndClone() {
        try (Tensor x = seq(3, 4); Tensor c1 = x.contiguous(); Tensor t = x.t(); Tensor c2 = t.contiguous(); Tensor cl = x.clone()) {
            assertSame(x.storage(), c1.storage(), "contiguous() of a contiguous tensor shares storage");
            assertNotSame(x.storage(), c2.storage());
            assertTrue(c2.isContiguous());
            assertArrayEquals(new long[]{3, 1}, c2.strides());
            assertValues(t.toDoubleArray(), c2);
            assertNotSame(x.storage(), cl.storage());
            assertValues(x.toDoubleArray(), cl);
            cl.setDouble(-5, 0, 0);
            assertEquals(0, x.getDouble(0, 0), "a clone is independent of its source");
        }
        try (Tensor x = seq(4, 6); Tensor s = x.slice(1, 1, 5, 2); Tensor c = s.clone(); Tensor e = seq(1, 3).expand(2, 3); Tensor ce = e.clone()) {
            assertEquals(0, c.offset());
            assertValues(new double[]{1, 3, 7, 9, 13, 15, 19, 21}, c);
            assertValues(new double[]{0, 1, 2, 0, 1, 2}, ce);
            assertArrayEquals(new long[]{3, 1}, ce.strides());
        }
    }

    @Test
    void isContiguousIgnoresSizeOneStrides() {
        try (Tensor x = seq(3, 1, 4); Tensor odd = Tensor.of(x.storage(), DType.F64, new int[]{3, 1, 4}, new long[]{4, 99, 1}, 0)) {
            assertTrue(odd.isContiguous());
            try (Tensor r = odd.reshape(12)) { assertSame(x.storage(), r.storage()); }
        }
    }
}
