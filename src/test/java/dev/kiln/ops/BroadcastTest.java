package dev.kiln.ops;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Broadcasting and dtype rules of the elementwise front end (through the public Tensor API):
 * scalars, [3,1] with [1,4], empty dims, rank differences, 0-d tensors, three-way where, dtype
 * promotion, and errors that name the op and both shapes.
 */
class BroadcastTest {

    /** Reference: value of a broadcast operand at output position flat. */
    private static double at(Tensor t, int[] outShape, long flat) {
        int[] s = t.shape();
        long[] idx = new long[s.length];
        long f = flat;
        for (int d = outShape.length - 1; d >= 0; d--) {
            long i = f % outShape[d];
            f /= outShape[d];
            int sd = d - (outShape.length - s.length);
            if (sd >= 0) idx[sd] = s[sd] == 1 ? 0 : i;
        }
        return t.getDouble(idx);
    }

    private static void checkAdd(Tensor a, Tensor b, int[] expectShape) {
        Tensor r = a.add(b);
        assertArrayEquals(expectShape, r.shape(), "shape of " + a + " + " + b);
        double[] got = r.toDoubleArray();
        for (int i = 0; i < got.length; i++)
            assertEquals(at(a, expectShape, i) + at(b, expectShape, i), got[i], 1e-6, "element " + i);
        Tensor r2 = b.add(a); // commutes, including the shape
        assertArrayEquals(expectShape, r2.shape());
        assertArrayEquals(got, r2.toDoubleArray(), 1e-6);
    }

    @Test
    void broadcastShapesAndValues() {
        try (Scope s = Scope.open()) {
            Generator g = new Generator(1);
            checkAdd(Tensor.uniform(g, -2, 2, DType.F32, 3, 1), Tensor.uniform(g, -2, 2, DType.F32, 1, 4), new int[]{3, 4});
            checkAdd(Tensor.uniform(g, -2, 2, DType.F32, 45, 65), Tensor.scalar(1.5), new int[]{45, 65});
            checkAdd(Tensor.uniform(g, -2, 2, DType.F32, 5), Tensor.uniform(g, -2, 2, DType.F32, 2, 3, 5), new int[]{2, 3, 5});
            checkAdd(Tensor.uniform(g, -2, 2, DType.F32, 3, 1, 5), Tensor.uniform(g, -2, 2, DType.F32, 4, 1), new int[]{3, 4, 5});
            checkAdd(Tensor.uniform(g, -2, 2, DType.F32, 1), Tensor.uniform(g, -2, 2, DType.F32, 7), new int[]{7});
            checkAdd(Tensor.uniform(g, -2, 2, DType.F32, 1, 1), Tensor.scalar(2), new int[]{1, 1});
            checkAdd(Tensor.uniform(g, -2, 2, DType.F32, 65, 45).t(), Tensor.uniform(g, -2, 2, DType.F32, 45, 1), new int[]{45, 65});
            // 0-d with 0-d stays 0-d
            Tensor z = Tensor.scalar(2).add(Tensor.scalar(3));
            assertArrayEquals(new int[0], z.shape());
            assertEquals(5, z.item());
        }
    }

    @Test
    void emptyDimsBroadcast() {
        try (Scope s = Scope.open()) {
            assertArrayEquals(new int[]{0}, Tensor.ones(1).add(Tensor.zeros(0)).shape());
            assertArrayEquals(new int[]{2, 0}, Tensor.ones(2, 0).add(Tensor.ones(2, 1)).shape());
            assertArrayEquals(new int[]{2, 0}, Tensor.ones(2, 0).mul(Tensor.scalar(3)).shape());
            assertArrayEquals(new int[]{0, 3}, Tensor.ones(0, 1).lt(Tensor.ones(3)).shape());
            assertEquals(DType.BOOL, Tensor.ones(0, 1).lt(Tensor.ones(3)).dtype());
            assertEquals(0, Tensor.zeros(0).exp().numel());
        }
    }

    @Test
    void incompatibleShapesNameTheOpAndBothShapes() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.ones(3), b = Tensor.ones(4), c = Tensor.ones(2, 3), d = Tensor.ones(3, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.add(b));
            assertTrue(e.getMessage().contains("add") && e.getMessage().contains("[3]") && e.getMessage().contains("[4]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> c.mul(d));
            assertTrue(e.getMessage().contains("mul") && e.getMessage().contains("[2, 3]") && e.getMessage().contains("[3, 2]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> c.lt(Tensor.ones(2)));
            assertTrue(e.getMessage().contains("lt") && e.getMessage().contains("[2, 3]") && e.getMessage().contains("[2]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Tensor.where(Tensor.ones(3).gt(Tensor.scalar(0)), c, Tensor.ones(4)));
            assertTrue(e.getMessage().contains("where") && e.getMessage().contains("[4]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Tensor.ones(2, 0).add(Tensor.ones(2, 3)));
            assertTrue(e.getMessage().contains("[2, 0]") && e.getMessage().contains("[2, 3]"), e.getMessage());
        }
    }

    @Test
    void whereBroadcastsAllThreeOperands() {
        try (Scope s = Scope.open()) {
            Tensor cond = Tensor.fromDoubles(DType.BOOL, new double[]{1, 0, 1, 0}, 4, 1);
            Tensor a = Tensor.arange(0, 3, 1, DType.F32);          // [3]
            Tensor b = Tensor.scalar(-1);                           // 0-d
            Tensor r = Tensor.where(cond, a, b);
            assertArrayEquals(new int[]{4, 3}, r.shape());
            assertArrayEquals(new double[]{0, 1, 2, -1, -1, -1, 0, 1, 2, -1, -1, -1}, r.toDoubleArray());
            // a non-bool condition is compared with zero; mixed dtypes promote
            Tensor ci = Tensor.fromArray(new int[]{0, 5, -1}, 3);
            Tensor r2 = Tensor.where(ci, Tensor.fromArray(new int[]{1, 2, 3}, 3), Tensor.scalar(0.5, DType.F64));
            assertEquals(DType.F64, r2.dtype());
            assertArrayEquals(new double[]{0.5, 2, 3}, r2.toDoubleArray());
        }
    }

    @Test
    void dtypePromotionFollowsPyTorchCategories() {
        try (Scope s = Scope.open()) {
            Tensor i32 = Tensor.fromArray(new int[]{1, 2, 3}, 3), f32 = Tensor.ones(3), f64 = Tensor.ones(DType.F64, 3);
            Tensor i8 = Tensor.fromDoubles(DType.I8, new double[]{1, 2, 3}, 3), i64 = Tensor.fromArray(new long[]{1, 2, 3}, 3);
            assertEquals(DType.F32, i32.add(f32).dtype());
            assertEquals(DType.F64, f32.add(f64).dtype());
            assertEquals(DType.I64, i8.add(i64).dtype());
            assertEquals(DType.I32, i8.add(i32).dtype());
            assertEquals(DType.F32, i32.div(i32).dtype());
            assertEquals(DType.F32, i32.pow(i32).dtype());
            assertEquals(DType.F32, i32.mul(0.5).dtype());   // non-integral scalar with an int tensor
            assertEquals(DType.I32, i32.mul(2).dtype());
            assertEquals(DType.BOOL, i32.eq(f32).dtype());
            assertArrayEquals(new long[]{1, 0, 0}, i32.eq(f32).toLongArray());
            Tensor bf = Tensor.ones(DType.BF16, 3);
            assertEquals(DType.BF16, bf.add(bf).dtype());
            assertEquals(DType.BF16, bf.exp().dtype());
            assertEquals(Math.E, bf.exp().getDouble(0), 0.02);
            assertEquals(DType.F32, bf.add(f32).dtype());
        }
    }

    @Test
    void unaryOnViewsKeepsLogicalOrder() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.arange(0, 12, 1, DType.F32).reshape(3, 4);
            assertArrayEquals(new double[]{0, 16, 64, 1, 25, 81, 4, 36, 100, 9, 49, 121}, x.t().square().toDoubleArray());
            assertArrayEquals(new double[]{1, 25, 81}, x.slice(1, 1, 4, 2).select(1, 0).square().toDoubleArray());
            assertArrayEquals(new double[]{4, 5, 6, 7, 4, 5, 6, 7}, x.select(0, 1).unsqueeze(0).expand(2, 4).toDoubleArray());
        }
    }
}
