package dev.kiln.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Element access, bounds errors and array export of views. */
class TensorAccessTest {
    @Test
    void getSetAndBoundsErrors() {
        try (Tensor x = Tensor.zeros(DType.F32, 2, 3)) {
            x.setDouble(4.5, 1, 2);
            assertEquals(4.5, x.getDouble(1, 2));
            assertEquals(4.5f, x.getFloat(1, 2));
            assertEquals(4, x.getLong(1, 2), "getLong truncates floats toward zero");
            assertEquals(4.5, x.getFlat(5));
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> x.getDouble(2, 0));
            assertTrue(e.getMessage().contains("[2, 0]") && e.getMessage().contains("[2, 3]"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> x.getDouble(0, 3));
            assertThrows(IndexOutOfBoundsException.class, () -> x.getDouble(-1, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> x.setDouble(1, 0, -1));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> x.getDouble(1)).getMessage().contains("rank 1"));
            assertThrows(IllegalArgumentException.class, () -> x.getDouble(0, 0, 0));
            assertEquals(3, x.size(-1));
            assertEquals(1, x.stride(1));
            assertThrows(IllegalArgumentException.class, () -> x.size(2));
        }
    }

    @Test
    void itemAndScalars() {
        try (Tensor s = Tensor.scalar(2.5, DType.F64); Tensor one = Tensor.ones(1, 1); Tensor two = Tensor.ones(2)) {
            assertEquals(2.5, s.item());
            assertEquals(2.5, s.getDouble());
            assertEquals(1.0, one.item());
            assertTrue(assertThrows(IllegalArgumentException.class, two::item).getMessage().contains("[2]"));
        }
    }

    @Test
    void int64StaysExact() {
        long big = (1L << 53) + 1;
        try (Tensor x = Tensor.fromArray(new long[]{big, Long.MIN_VALUE}); Tensor t = x.slice(0, 0, 2, 1)) {
            assertEquals(big, x.getLong(0));
            assertArrayEquals(new long[]{big, Long.MIN_VALUE}, t.toLongArray());
        }
    }

    @Test
    void arrayExportOfViews() {
        try (Tensor x = Tensor.arange(0, 12, 1, DType.I32).reshape(3, 4); Tensor t = x.t(); Tensor s = x.select(1, 1)) {
            assertArrayEquals(new int[]{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, t.toIntArray());
            assertArrayEquals(new float[]{1, 5, 9}, s.toFloatArray());
            assertArrayEquals(new double[]{1, 5, 9}, s.toDoubleArray());
            assertArrayEquals(new long[]{1, 5, 9}, s.toLongArray());
            try (Tensor tail = x.reshape(12).narrow(0, 8, 4)) {
                assertEquals(8, tail.offset());
                assertArrayEquals(new int[]{8, 9, 10, 11}, tail.toIntArray(), "a contiguous view with an offset");
            }
        }
    }

    @Test
    void toStringShowsDtypeShapeAndSmallValues() {
        try (Tensor x = Tensor.arange(0, 3, 1, DType.I64); Tensor big = Tensor.zeros(100)) {
            assertEquals("Tensor(int64, [3], [0, 1, 2])", x.toString());
            assertEquals("Tensor(float32, [100])", big.toString());
        }
    }
}
