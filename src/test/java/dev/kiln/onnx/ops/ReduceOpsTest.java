package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Scope;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static dev.kiln.onnx.ops.MathOpsTest.NONE;
import static dev.kiln.onnx.ops.MathOpsTest.assertDoubles;
import static dev.kiln.onnx.ops.MathOpsTest.doubles;
import static dev.kiln.onnx.ops.MathOpsTest.longs;
import static dev.kiln.onnx.ops.MathOpsTest.longsOf;
import static dev.kiln.onnx.ops.MathOpsTest.one;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * ReduceOps family against hand-computed / double-loop references: axes by attribute vs input
 * (opset), keepdims, noop_with_empty_axes, empty-set reductions, integer outputs, ArgMax with
 * select_last_index, Softmax/Hardmax coercion before opset 13, CumSum, Gemm, MatMul, Einsum, Det.
 */
class ReduceOpsTest {
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    /** 0, 1, 2, ... as a float tensor of the shape. */
    private static Value.TensorValue iota(int... shape) {
        int n = 1;
        for (int s : shape) n *= s;
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = i;
        return doubles(ElemType.FLOAT, v, shape);
    }

    @Test
    void reduceSumAxesComeFromTheInputFromOpset13() {
        Value.TensorValue x = iota(2, 3);
        Value.TensorValue s = one("ReduceSum", 13, new Object[]{"keepdims", 0L}, x, longs(ElemType.INT64, new long[]{-1}, 1));
        assertArrayEquals(new int[]{2}, s.tensor().shape());
        assertDoubles(new double[]{3, 12}, s, 0);
        Value.TensorValue all = one("ReduceSum", 13, NONE, x);
        assertArrayEquals(new int[]{1, 1}, all.tensor().shape());
        assertDoubles(new double[]{15}, all, 0);
        Value.TensorValue noop = one("ReduceSum", 13, new Object[]{"noop_with_empty_axes", 1L}, x, longs(ElemType.INT64, new long[0], 0));
        assertArrayEquals(new int[]{2, 3}, noop.tensor().shape());
        Value.TensorValue old = one("ReduceSum", 11, new Object[]{"axes", new long[]{0}}, x);
        assertArrayEquals(new int[]{1, 3}, old.tensor().shape());
        assertDoubles(new double[]{3, 5, 7}, old, 0);
    }

    @Test
    void theOtherReductionsAndIntegerOutputs() {
        Value.TensorValue x = doubles(ElemType.FLOAT, new double[]{1, -2, 3, -4}, 2, 2);
        Object[] ax1 = {"axes", new long[]{1}, "keepdims", 0L};
        assertDoubles(new double[]{3, 7}, one("ReduceL1", 13, ax1, x), 1e-7);
        assertDoubles(new double[]{Math.sqrt(5), 5}, one("ReduceL2", 13, ax1, x), 1e-7);
        assertDoubles(new double[]{5, 25}, one("ReduceSumSquare", 13, ax1, x), 1e-7);
        assertDoubles(new double[]{-2, -12}, one("ReduceProd", 13, ax1, x), 1e-7);
        assertDoubles(new double[]{1, 3}, one("ReduceMax", 13, ax1, x), 0);
        assertDoubles(new double[]{-2, -4}, one("ReduceMin", 13, ax1, x), 0);
        assertDoubles(new double[]{-0.5, -0.5}, one("ReduceMean", 13, ax1, x), 1e-7);
        assertDoubles(new double[]{Math.log(Math.exp(1) + Math.exp(-2)), Math.log(Math.exp(3) + Math.exp(-4))},
                one("ReduceLogSumExp", 13, ax1, x), 1e-6);
        assertDoubles(new double[]{Math.log(2), Math.log(4)}, one("ReduceLogSum", 13, new Object[]{"axes", new long[]{0}, "keepdims", 0L}, iota(2, 2)), 1e-6);
        Value.TensorValue i = longs(ElemType.INT32, new long[]{3, 4, 100, 200}, 2, 2);
        Value.TensorValue l2 = one("ReduceL2", 13, ax1, i);
        assertEquals(ElemType.INT32, l2.type());
        assertArrayEquals(new long[]{5, 223}, longsOf(l2));
        Value.TensorValue u8 = one("ReduceSum", 13, new Object[]{"keepdims", 0L}, longs(ElemType.UINT8, new long[]{200, 100}, 2));
        assertEquals(ElemType.UINT8, u8.type());
        assertArrayEquals(new long[]{44}, longsOf(u8));
    }

    @Test
    void reducingAnEmptySetGivesTheIdentity() {
        Value.TensorValue e = doubles(ElemType.FLOAT, new double[0], 2, 0);
        Object[] ax1 = {"axes", new long[]{1}, "keepdims", 1L};
        assertDoubles(new double[]{0, 0}, one("ReduceSum", 13, new Object[]{"keepdims", 1L}, e, longs(ElemType.INT64, new long[]{1}, 1)), 0);
        assertDoubles(new double[]{1, 1}, one("ReduceProd", 13, ax1, e), 0);
        assertDoubles(new double[]{Double.NEGATIVE_INFINITY, Double.NEGATIVE_INFINITY}, one("ReduceMax", 13, ax1, e), 0);
        Value.TensorValue min = one("ReduceMin", 13, ax1, e);
        assertArrayEquals(new int[]{2, 1}, min.tensor().shape());
        assertDoubles(new double[]{Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY}, min, 0);
    }

    @Test
    void argMaxSelectsFirstOrLastIndex() {
        Value.TensorValue x = doubles(ElemType.FLOAT, new double[]{2, 5, 5, 1, 1, 0}, 2, 3);
        assertArrayEquals(new long[]{1, 0}, longsOf(one("ArgMax", 13, new Object[]{"axis", 1L, "keepdims", 0L}, x)));
        Value.TensorValue last = one("ArgMax", 13, new Object[]{"axis", 1L, "select_last_index", 1L}, x);
        assertArrayEquals(new int[]{2, 1}, last.tensor().shape());
        assertArrayEquals(new long[]{2, 1}, longsOf(last));
        assertArrayEquals(new long[]{1, 1, 1}, longsOf(one("ArgMin", 13, new Object[]{"keepdims", 0L}, x)));
        assertArrayEquals(new long[]{0, 2}, longsOf(one("ArgMin", 13, new Object[]{"axis", -1L, "keepdims", 0L},
                longs(ElemType.INT64, new long[]{-9, 4, 7, 3, 8, -1}, 2, 3))));
    }

    @Test
    void softmaxCoercesTo2dBeforeOpset13() {
        Value.TensorValue x = iota(2, 2, 2);
        double[] v = MathOpsTest.doublesOf(one("Softmax", 11, NONE, x)); // axis 1: rows of 4
        double z = 1 + Math.exp(1) + Math.exp(2) + Math.exp(3);
        assertEquals(1 / z, v[0], 1e-7);
        assertEquals(Math.exp(3) / z, v[3], 1e-7);
        double[] w = MathOpsTest.doublesOf(one("Softmax", 13, new Object[]{"axis", 1L}, x)); // pairs along axis 1
        assertEquals(1 / (1 + Math.exp(2)), w[0], 1e-7);
        double[] l = MathOpsTest.doublesOf(one("LogSoftmax", 13, NONE, x));
        assertEquals(-Math.log(1 + Math.E), l[0], 1e-6);
        assertDoubles(new double[]{0, 0, 0, 1, 0, 0, 0, 1}, one("Hardmax", 11, NONE, x), 0);
        assertDoubles(new double[]{0, 0, 1, 1, 0, 0, 1, 1}, one("Hardmax", 13, new Object[]{"axis", 1L}, x), 0);
    }

    @Test
    void cumSumExclusiveAndReverse() {
        Value.TensorValue x = longs(ElemType.INT64, new long[]{1, 2, 3, 4, 5, 6}, 2, 3);
        Value.TensorValue axis = longs(ElemType.INT32, new long[]{1}, new int[0]);
        assertArrayEquals(new long[]{1, 3, 6, 4, 9, 15}, longsOf(one("CumSum", 14, NONE, x, axis)));
        assertArrayEquals(new long[]{5, 3, 0, 11, 6, 0}, longsOf(one("CumSum", 14, new Object[]{"exclusive", 1L, "reverse", 1L}, x, axis)));
        assertArrayEquals(new long[]{1, 2, 3, 5, 7, 9}, longsOf(one("CumSum", 14, NONE, x, longs(ElemType.INT64, new long[]{0}, new int[0]))));
    }

    @Test
    void gemmWithTransposesAlphaBetaAndBroadcastC() {
        Value.TensorValue a = iota(3, 2); // A^T is 2 x 3
        Value.TensorValue b = iota(4, 3); // B^T is 3 x 4
        Value.TensorValue c = doubles(ElemType.FLOAT, new double[]{1, 2, 3, 4}, 4);
        Value.TensorValue y = one("Gemm", 13, new Object[]{"transA", 1L, "transB", 1L, "alpha", 0.5, "beta", 2.0}, a, b, c);
        assertArrayEquals(new int[]{2, 4}, y.tensor().shape());
        double[] want = new double[8];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) {
                double s = 0;
                for (int k = 0; k < 3; k++) s += (k * 2 + i) * (j * 3 + k);
                want[i * 4 + j] = 0.5 * s + 2 * (j + 1);
            }
        assertDoubles(want, y, 1e-6);
        Value.TensorValue noC = one("Gemm", 13, NONE, iota(2, 3), iota(3, 1));
        assertDoubles(new double[]{5, 14}, noC, 1e-6);
    }

    @Test
    void matmulOfIntegersStaysInteger() {
        Value.TensorValue r = one("MatMul", 13, NONE, longs(ElemType.INT32, new long[]{1, 2, 3, 4}, 2, 2),
                longs(ElemType.INT32, new long[]{5, 6}, 2));
        assertEquals(ElemType.INT32, r.type());
        assertArrayEquals(new int[]{2}, r.tensor().shape());
        assertArrayEquals(new long[]{17, 39}, longsOf(r));
    }

    @Test
    void einsumCoversTransposesDiagonalsSumsAndChains() {
        Value.TensorValue m = iota(3, 3), a = iota(2, 3), b = iota(3, 4);
        assertDoubles(new double[]{0, 4, 8}, one("Einsum", 12, new Object[]{"equation", "ii->i"}, m), 0);
        Value.TensorValue trace = one("Einsum", 12, new Object[]{"equation", "ii"}, m);
        assertEquals(0, trace.tensor().dim());
        assertDoubles(new double[]{12}, trace, 0);
        assertDoubles(new double[]{20, 23, 26, 29, 56, 68, 80, 92}, one("Einsum", 12, new Object[]{"equation", "ij,jk->ik"}, a, b), 1e-6);
        assertDoubles(new double[]{20, 56, 23, 68, 26, 80, 29, 92}, one("Einsum", 12, new Object[]{"equation", "ij,jk->ki"}, a, b), 1e-6);
        assertDoubles(new double[]{15}, one("Einsum", 12, new Object[]{"equation", "ij->"}, a), 0);
        assertDoubles(new double[]{0, 0, 0, 1, 2, 3}, one("Einsum", 12, new Object[]{"equation", "i,j"},
                doubles(ElemType.FLOAT, new double[]{0, 1}), doubles(ElemType.FLOAT, new double[]{1, 2, 3})), 0);
        Value.TensorValue chain = one("Einsum", 12, new Object[]{"equation", "ij,jk,kl->il"}, a, b, iota(4, 1));
        assertDoubles(new double[]{20 * 0 + 23 * 1 + 26 * 2 + 29 * 3, 56 * 0 + 68 * 1 + 80 * 2 + 92 * 3}, chain, 1e-6);
        Value.TensorValue batch = one("Einsum", 12, new Object[]{"equation", "...ij,...kj->...ik"}, iota(2, 1, 2), iota(2, 2));
        assertArrayEquals(new int[]{2, 1, 2}, batch.tensor().shape());
        assertDoubles(new double[]{1, 3, 3, 13}, batch, 1e-6);
    }

    @Test
    void detOfABatch() {
        Value.TensorValue x = doubles(ElemType.DOUBLE, new double[]{2, 0, 1, 1, 3, 2, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1}, 2, 3, 3);
        assertDoubles(new double[]{2 * (3 - 2) - 0 + 1 * (1 - 3), -1}, one("Det", 11, NONE, x), 1e-12);
    }
}
