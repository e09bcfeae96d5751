package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static dev.kiln.onnx.ops.ShapeOpTesting.*;
import static org.junit.jupiter.api.Assertions.*;

/** Reshape, Shape, Size, Flatten, Transpose, Squeeze, Unsqueeze, Expand, Slice, Split, Concat, Identity. */
class ShapeOpsTest {

    private static Tensor tensor(Value v) { return ((Value.TensorValue) v).tensor(); }

    @Test
    void reshapeZeroCopiesDimAndMinusOneInfers() {
        Value x = range(2, 3, 4);
        Value y = run1("Reshape", 14, List.of(x, i64(new long[]{0, -1}, 2)));
        check(y, ElemType.FLOAT, shape(2, 12), seq(24));
        assertSame(tensor(x).storage(), tensor(y).storage(), "a view, not a copy");
    }

    @Test
    void reshapeAllowZeroKeepsZeroDims() {
        Value x = Value.of(Tensor.zeros(0, 3, 4));
        check(run1("Reshape", 14, List.of(x, i64(new long[]{3, 4, 0}, 3)), i("allowzero", 1)), ElemType.FLOAT, shape(3, 4, 0));
        check(run1("Reshape", 14, List.of(range(1), i64(new long[0], 0))), ElemType.FLOAT, shape(), 0);
        assertThrows(OnnxException.class, () -> run1("Reshape", 14, List.of(range(2, 3), i64(new long[]{4, -1}, 2))));
    }

    @Test
    void reshapeOldOpsetReadsAttribute() {
        check(run1("Reshape", 1, List.of(range(2, 3)), ints("shape", 3, 2)), ElemType.FLOAT, shape(3, 2), seq(6));
    }

    @Test
    void shapeStartEndAndSize() {
        Value x = range(2, 3, 4);
        checkLongs(run1("Shape", 13, List.of(x)), shape(3), 2, 3, 4);
        checkLongs(run1("Shape", 15, List.of(x), i("start", -2)), shape(2), 3, 4);
        checkLongs(run1("Shape", 15, List.of(x), i("start", 1), i("end", -1)), shape(1), 3);
        checkLongs(run1("Shape", 15, List.of(x), i("start", 10)), shape(0));
        checkLongs(run1("Size", 13, List.of(x)), shape(), 24);
    }

    @Test
    void flattenAxes() {
        Value x = range(2, 3, 4);
        check(run1("Flatten", 13, List.of(x)), ElemType.FLOAT, shape(2, 12), seq(24));
        check(run1("Flatten", 13, List.of(x), i("axis", 0)), ElemType.FLOAT, shape(1, 24), seq(24));
        check(run1("Flatten", 13, List.of(x), i("axis", -1)), ElemType.FLOAT, shape(6, 4), seq(24));
        check(run1("Flatten", 13, List.of(x), i("axis", 3)), ElemType.FLOAT, shape(24, 1), seq(24));
    }

    @Test
    void transposeDefaultReversesAndIsAView() {
        Value x = range(2, 3);
        Value y = run1("Transpose", 13, List.of(x));
        check(y, ElemType.FLOAT, shape(3, 2), 0, 3, 1, 4, 2, 5);
        assertSame(tensor(x).storage(), tensor(y).storage());
        check(run1("Transpose", 13, List.of(range(1, 2, 3)), ints("perm", 1, 2, 0)), ElemType.FLOAT, shape(2, 3, 1), seq(6));
    }

    @Test
    void squeezeAndUnsqueezeByOpset() {
        Value x = range(1, 3, 1);
        check(run1("Squeeze", 13, List.of(x)), ElemType.FLOAT, shape(3), seq(3));
        check(run1("Squeeze", 13, List.of(x, i64(new long[]{-1}, 1))), ElemType.FLOAT, shape(1, 3), seq(3));
        check(run1("Squeeze", 11, List.of(x), ints("axes", 0)), ElemType.FLOAT, shape(3, 1), seq(3));
        assertThrows(OnnxException.class, () -> run1("Squeeze", 13, List.of(x, i64(new long[]{1}, 1))));
        Value v = range(3);
        check(run1("Unsqueeze", 13, List.of(v, i64(new long[]{0, -1}, 2))), ElemType.FLOAT, shape(1, 3, 1), seq(3));
        check(run1("Unsqueeze", 11, List.of(v), ints("axes", 1)), ElemType.FLOAT, shape(3, 1), seq(3));
        check(run1("Unsqueeze", 13, List.of(Value.of(Tensor.scalar(7)), i64(new long[]{0}, 1))), ElemType.FLOAT, shape(1), 7);
    }

    @Test
    void expandBroadcastsBothWays() {
        Value x = range(3, 1);
        Value y = run1("Expand", 13, List.of(x, i64(new long[]{2, 1, 2}, 3)));
        check(y, ElemType.FLOAT, shape(2, 3, 2), 0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2);
        assertSame(tensor(x).storage(), tensor(y).storage());
        check(run1("Expand", 13, List.of(x, i64(new long[]{0}, 1))), ElemType.FLOAT, shape(3, 0));
    }

    @Test
    void sliceNegativeStepsAndClamping() {
        Value x = range(4, 5);
        Value y = run1("Slice", 13, List.of(x, i64(new long[]{3, -1}, 2), i64(new long[]{0, Long.MIN_VALUE}, 2),
                i64(new long[]{0, 1}, 2), i64(new long[]{-2, -1}, 2)));
        check(y, ElemType.FLOAT, shape(2, 5), 19, 18, 17, 16, 15, 9, 8, 7, 6, 5);
        assertSame(tensor(x).storage(), tensor(y).storage());
        check(run1("Slice", 13, Arrays.asList(x, i64(new long[]{-100, 1}, 2), i64(new long[]{Long.MAX_VALUE, -1}, 2),
                null, i64(new long[]{3, 1}, 2))), ElemType.FLOAT, shape(2, 3), 1, 2, 3, 16, 17, 18);
        check(run1("Slice", 13, List.of(x, i64(new long[]{5}, 1), i64(new long[]{10}, 1), i64(new long[]{1}, 1))),
                ElemType.FLOAT, shape(4, 0));
        check(run1("Slice", 9, List.of(x), ints("starts", 1), ints("ends", 3), ints("axes", -2)), ElemType.FLOAT,
                shape(2, 5), 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
        // a reversed view made contiguous
        Tensor c = tensor(run1("Slice", 13, List.of(range(3), i64(new long[]{-1}, 1), i64(new long[]{Long.MIN_VALUE}, 1),
                i64(new long[]{0}, 1), i64(new long[]{-1}, 1)))).contiguous();
        assertArrayEquals(new float[]{2, 1, 0}, c.toFloatArray());
    }

    @Test
    void splitBySizesEqualAndUneven() {
        Value x = range(2, 6);
        List<Value> p = run("Split", 13, List.of(x, i64(new long[]{1, 0, 5}, 3)), 3, i("axis", 1));
        check(p.get(0), ElemType.FLOAT, shape(2, 1), 0, 6);
        check(p.get(1), ElemType.FLOAT, shape(2, 0));
        check(p.get(2), ElemType.FLOAT, shape(2, 5), 1, 2, 3, 4, 5, 7, 8, 9, 10, 11);
        List<Value> eq = run("Split", 11, List.of(x), 3, i("axis", -1));
        check(eq.get(2), ElemType.FLOAT, shape(2, 2), 4, 5, 10, 11);
        List<Value> old = run("Split", 11, List.of(x), 2, ints("split", 4, 2), i("axis", 1));
        check(old.get(1), ElemType.FLOAT, shape(2, 2), 4, 5, 10, 11);
        List<Value> un = run("Split", 18, List.of(range(7)), 3, i("num_outputs", 3));
        check(un.get(0), ElemType.FLOAT, shape(3), 0, 1, 2);
        check(un.get(2), ElemType.FLOAT, shape(1), 6);
        assertThrows(OnnxException.class, () -> run("Split", 13, List.of(range(7)), 3));
    }

    @Test
    void concatKeepsTypeAndHandlesEmptyParts() {
        Value a = typed(ElemType.UINT8, new double[]{1, 2}, 1, 2), b = typed(ElemType.UINT8, new double[]{}, 0, 2);
        Value c = typed(ElemType.UINT8, new double[]{250, 255}, 1, 2);
        check(run1("Concat", 13, List.of(a, b, c), i("axis", -2)), ElemType.UINT8, shape(2, 2), 1, 2, 250, 255);
        Value t = typed(ElemType.BOOL, new double[]{1, 0}, 2);
        check(run1("Concat", 13, List.of(t, t), i("axis", 0)), ElemType.BOOL, shape(4), 1, 0, 1, 0);
    }

    @Test
    void identitySharesTensorsAndSequences() {
        Value x = typed(ElemType.FLOAT16, new double[]{1.5, -2}, 2);
        Value y = run1("Identity", 13, List.of(x));
        check(y, ElemType.FLOAT16, shape(2), 1.5, -2);
        assertNotSame(tensor(x), tensor(y));
        Value seq = new Value.SequenceValue(List.of(x), ElemType.FLOAT16);
        Value s2 = run1("Identity", 16, List.of(seq));
        assertEquals(1, ((Value.SequenceValue) s2).items().size());
    }
}
