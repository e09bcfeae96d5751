package dev.kiln.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shape helpers: numel, strides, axes, broadcasting, reshape inference. */
class ShapeTest {
    @Test
    void numelAndStrides() {
        assertEquals(1, Shape.numel(new int[0]));
        assertEquals(0, Shape.numel(new int[]{3, 0, 5}));
        assertEquals(24, Shape.numel(new int[]{2, 3, 4}));
        assertEquals(1L << 62, Shape.numel(new int[]{1 << 30, 1 << 30, 4}));
        assertArrayEquals(new long[]{12, 4, 1}, Shape.contiguousStrides(new int[]{2, 3, 4}));
        assertArrayEquals(new long[]{5, 5, 1}, Shape.contiguousStrides(new int[]{3, 0, 5}));
        assertArrayEquals(new long[0], Shape.contiguousStrides(new int[0]));
    }

    @Test
    void numelOverflowIsAnErrorNotAWrap() {
        int m = Integer.MAX_VALUE;
        assertThrows(IllegalArgumentException.class, () -> Shape.numel(new int[]{m, m, m}));
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.F32, m, m, m));
    }

    @Test
    void broadcastRules() {
        assertArrayEquals(new int[]{2, 3, 4}, Shape.broadcast("add", new int[]{3, 1}, new int[]{2, 1, 4}));
        assertArrayEquals(new int[]{5}, Shape.broadcast("add", new int[0], new int[]{5}));
        assertArrayEquals(new int[]{0, 3}, Shape.broadcast("add", new int[]{1, 3}, new int[]{0, 1}));
        assertArrayEquals(new int[]{2, 3}, Shape.broadcast("where", new int[]{1}, new int[]{2, 1}, new int[]{3}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Shape.broadcast("mul", new int[]{2, 3}, new int[]{4, 3}));
        assertTrue(e.getMessage().startsWith("mul: "), e.getMessage());
        assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 3]"), e.getMessage());
        IllegalArgumentException e3 = assertThrows(IllegalArgumentException.class,
                () -> Shape.broadcast("where", new int[]{2}, new int[]{1}, new int[]{3}));
        assertTrue(e3.getMessage().contains("[2]") && e3.getMessage().contains("[3]"), e3.getMessage());
    }

    @Test
    void axesAndChecks() {
        assertEquals(2, Shape.axis("op", -1, 3));
        assertEquals(0, Shape.axis("op", -3, 3));
        assertEquals(0, Shape.axis("sum", 0, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Shape.axis("softmax", 3, 3));
        assertTrue(e.getMessage().startsWith("softmax: axis 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Shape.axis("op", -4, 3));
        assertThrows(IllegalArgumentException.class, () -> Shape.check("empty", new int[]{2, -1}));
        int[] in = {2, 3};
        int[] out = Shape.check("empty", in);
        out[0] = 9;
        assertEquals(2, in[0], "check returns a defensive copy");
    }

    @Test
    void inferReshape() {
        assertArrayEquals(new int[]{4, 6}, Shape.inferReshape(new int[]{2, 3, 4}, new int[]{4, -1}));
        assertArrayEquals(new int[]{0, 7}, Shape.inferReshape(new int[]{0, 7}, new int[]{0, 7}));
        assertThrows(IllegalArgumentException.class, () -> Shape.inferReshape(new int[]{0, 7}, new int[]{0, -1}));
        assertThrows(IllegalArgumentException.class, () -> Shape.inferReshape(new int[]{2, 3}, new int[]{5, -1}));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Shape.inferReshape(new int[]{2, 3}, new int[]{7}))
                .getMessage().contains("6 elements"));
    }
}
