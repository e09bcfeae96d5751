package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static dev.kiln.onnx.ops.ShapeOpTesting.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Constant, ConstantOfShape, Range, EyeLike, Trilu, Pad, Tile, DepthToSpace, SpaceToDepth, ReverseSequence. */
class ShapeMakePadTest {

    @Test
    void constantForms() {
        Value.TensorValue v = typed(ElemType.INT16, new double[]{-3, 4}, 2);
        check(run1("Constant", 13, List.of(), t("value", v)), ElemType.INT16, shape(2), -3, 4);
        check(run1("Constant", 13, List.of(), f("value_float", 2.5f)), ElemType.FLOAT, shape(), 2.5);
        check(run1("Constant", 13, List.of(), floats("value_floats", 1, 2)), ElemType.FLOAT, shape(2), 1, 2);
        checkLongs(run1("Constant", 13, List.of(), i("value_int", 7)), shape(), 7);
        checkLongs(run1("Constant", 13, List.of(), ints("value_ints", 7, 8)), shape(2), 7, 8);
    }

    @Test
    void constantOfShapeScalarEmptyAndTyped() {
        check(run1("ConstantOfShape", 9, List.of(i64(new long[]{2, 1}, 2))), ElemType.FLOAT, shape(2, 1), 0, 0);
        Value.TensorValue seven = Value.of(Tensor.fromArray(new long[]{Long.MAX_VALUE}, 1));
        checkLongs(run1("ConstantOfShape", 9, List.of(i64(new long[0], 0)), t("value", seven)), shape(), Long.MAX_VALUE);
        checkLongs(run1("ConstantOfShape", 9, List.of(i64(new long[]{3, 0}, 2)), t("value", seven)), shape(3, 0));
    }

    @Test
    void rangeFloatAndInt() {
        Value s = Value.of(Tensor.scalar(1)), l = Value.of(Tensor.scalar(2)), d = Value.of(Tensor.scalar(0.25));
        check(run1("Range", 11, List.of(s, l, d)), ElemType.FLOAT, shape(4), 1, 1.25, 1.5, 1.75);
        Value a = Value.of(Tensor.scalar(10, DType.I32)), b = Value.of(Tensor.scalar(6, DType.I32)), c = Value.of(Tensor.scalar(-3, DType.I32));
        check(run1("Range", 11, List.of(a, b, c)), ElemType.INT32, shape(2), 10, 7);
        check(run1("Range", 11, List.of(b, a, c)), ElemType.INT32, shape(0));
    }

    @Test
    void eyeLikeWithOffsetAndDtype() {
        Value x = range(2, 3);
        check(run1("EyeLike", 9, List.of(x), i("k", 1)), ElemType.FLOAT, shape(2, 3), 0, 1, 0, 0, 0, 1);
        checkLongs(run1("EyeLike", 9, List.of(x), i("k", -1), i("dtype", 7)), shape(2, 3), 0, 0, 0, 1, 0, 0);
    }

    @Test
    void triluUpperAndLower() {
        Value x = range(3, 4);
        check(run1("Trilu", 14, List.of(x, i64(new long[]{1}, 1))), ElemType.FLOAT, shape(3, 4), 0, 1, 2, 3, 0, 0, 6, 7, 0, 0, 0, 11);
        check(run1("Trilu", 14, List.of(x, i64(new long[]{-1}, 1)), i("upper", 0)), ElemType.FLOAT, shape(3, 4), 0, 0, 0, 0, 4, 0, 0, 0, 8, 9, 0, 0);
        check(run1("Trilu", 14, List.of(Value.of(Tensor.zeros(2, 0, 3)))), ElemType.FLOAT, shape(2, 0, 3));
    }

    @Test
    void padModes() {
        Value x = range(2, 3);
        check(run1("Pad", 13, List.of(x, i64(new long[]{1, 2, 1, 2}, 4)), s("mode", "reflect")), ElemType.FLOAT, shape(4, 7),
                5, 4, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 1, 0, 5, 4, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 1, 0);
        check(run1("Pad", 13, List.of(x, i64(new long[]{0, 1, 1, 0}, 4)), s("mode", "edge")), ElemType.FLOAT, shape(3, 4),
                0, 0, 1, 2, 3, 3, 4, 5, 3, 3, 4, 5);
        check(run1("Pad", 19, List.of(x, i64(new long[]{0, 2, 0, 1}, 4)), s("mode", "wrap")), ElemType.FLOAT, shape(2, 6),
                1, 2, 0, 1, 2, 0, 4, 5, 3, 4, 5, 3);
        check(run1("Pad", 11, List.of(x, i64(new long[]{0, 1, 0, -1}, 4), Value.of(Tensor.scalar(9)))), ElemType.FLOAT, shape(2, 3),
                9, 0, 1, 9, 3, 4);
        check(run1("Pad", 2, List.of(x), ints("pads", 1, 0, 0, 0), f("value", -1)), ElemType.FLOAT, shape(3, 3),
                -1, -1, -1, 0, 1, 2, 3, 4, 5);
        check(run1("Pad", 18, Arrays.asList(x, i64(new long[]{1, 1}, 2), null, i64(new long[]{-1}, 1))), ElemType.FLOAT, shape(2, 5),
                0, 0, 1, 2, 0, 0, 3, 4, 5, 0);
    }

    @Test
    void tileRepeats() {
        check(run1("Tile", 13, List.of(range(2, 3), i64(new long[]{2, 2}, 2))), ElemType.FLOAT, shape(4, 6),
                0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5);
        check(run1("Tile", 13, List.of(range(2), i64(new long[]{0}, 1))), ElemType.FLOAT, shape(0));
    }

    @Test
    void depthToSpaceModesAndSpaceToDepth() {
        Value x = range(1, 8, 2, 2);
        double[] dcr = {0, 8, 1, 9, 16, 24, 17, 25, 2, 10, 3, 11, 18, 26, 19, 27, 4, 12, 5, 13, 20, 28, 21, 29, 6, 14, 7, 15, 22, 30, 23, 31};
        double[] crd = {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15, 16, 20, 17, 21, 24, 28, 25, 29, 18, 22, 19, 23, 26, 30, 27, 31};
        check(run1("DepthToSpace", 13, List.of(x), i("blocksize", 2)), ElemType.FLOAT, shape(1, 2, 4, 4), dcr);
        check(run1("DepthToSpace", 13, List.of(x), i("blocksize", 2), s("mode", "CRD")), ElemType.FLOAT, shape(1, 2, 4, 4), crd);
        check(run1("SpaceToDepth", 13, List.of(range(1, 1, 4, 4)), i("blocksize", 2)), ElemType.FLOAT, shape(1, 4, 2, 2),
                0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15);
    }

    @Test
    void reverseSequenceTimeMajor() {
        Value x = range(4, 3);
        check(run1("ReverseSequence", 10, List.of(x, i64(new long[]{4, 2, 1}, 3)), i("batch_axis", 1), i("time_axis", 0)),
                ElemType.FLOAT, shape(4, 3), 9, 4, 2, 6, 1, 5, 3, 7, 8, 0, 10, 11);
        Value y = run1("ReverseSequence", 10, List.of(range(3, 4), i64(new long[]{4, 2, 1}, 3)), i("batch_axis", 0), i("time_axis", 1));
        check(y, ElemType.FLOAT, shape(3, 4), 3, 2, 1, 0, 5, 4, 6, 7, 8, 9, 10, 11);
        assertEquals(12, ((Value.TensorValue) y).tensor().numel());
    }
}
