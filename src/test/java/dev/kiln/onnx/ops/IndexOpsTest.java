package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxException;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.kiln.onnx.ops.ShapeOpTesting.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Gather, GatherElements, GatherND, Compress, NonZero, OneHot, Scatter*, TopK, Unique. */
class IndexOpsTest {

    @Test
    void gatherNegativeAndMatrixIndices() {
        Value x = range(3, 2);
        check(run1("Gather", 13, List.of(x, i64(new long[]{-1, 0, 1, 2}, 2, 2))), ElemType.FLOAT, shape(2, 2, 2), 4, 5, 0, 1, 2, 3, 4, 5);
        check(run1("Gather", 13, List.of(x, i64(new long[]{1}, new int[0])), i("axis", 1)), ElemType.FLOAT, shape(3), 1, 3, 5);
        check(run1("Gather", 13, List.of(x, i64(new long[0], 0))), ElemType.FLOAT, shape(0, 2));
        Value u8 = typed(ElemType.UINT8, new double[]{200, 7, 255}, 3);
        check(run1("Gather", 13, List.of(u8, Value.of(Tensor.fromArray(new int[]{2, 0}, 2)))), ElemType.UINT8, shape(2), 255, 200);
        assertThrows(OnnxException.class, () -> run1("Gather", 13, List.of(x, i64(new long[]{3}, 1))));
    }

    @Test
    void gatherElementsAndNd() {
        Value x = range(2, 2);
        check(run1("GatherElements", 13, List.of(x, i64(new long[]{0, 0, -1, 0}, 2, 2)), i("axis", 1)), ElemType.FLOAT, shape(2, 2), 0, 0, 3, 2);
        check(run1("GatherND", 13, List.of(x, i64(new long[]{1, 0, 0, 1}, 2, 2))), ElemType.FLOAT, shape(2), 2, 1);
        check(run1("GatherND", 13, List.of(x, i64(new long[]{1, 0}, 2, 1))), ElemType.FLOAT, shape(2, 2), 2, 3, 0, 1);
        Value y = range(2, 2, 2);
        check(run1("GatherND", 13, List.of(y, i64(new long[]{1, 0}, 2, 1)), i("batch_dims", 1)), ElemType.FLOAT, shape(2, 2), 2, 3, 4, 5);
    }

    @Test
    void compressAndNonZero() {
        Value x = range(3, 2);
        Value cond = typed(ElemType.BOOL, new double[]{0, 1, 1}, 3);
        check(run1("Compress", 11, List.of(x, cond), i("axis", 0)), ElemType.FLOAT, shape(2, 2), 2, 3, 4, 5);
        check(run1("Compress", 11, List.of(x, cond)), ElemType.FLOAT, shape(2), 1, 2);
        check(run1("Compress", 11, List.of(x, typed(ElemType.BOOL, new double[]{1}, 1)), i("axis", -1)), ElemType.FLOAT, shape(3, 1), 0, 2, 4);
        Value b = typed(ElemType.BOOL, new double[]{1, 0, 1, 1}, 2, 2);
        checkLongs(run1("NonZero", 13, List.of(b)), shape(2, 3), 0, 1, 1, 0, 0, 1);
        checkLongs(run1("NonZero", 13, List.of(Value.of(Tensor.zeros(2, 2)))), shape(2, 0));
    }

    @Test
    void oneHotAxesAndNegativeIndices() {
        Value idx = i64(new long[]{0, -1, 5}, 3);
        Value depth = Value.of(Tensor.scalar(3));
        Value vals = Value.of(Tensor.fromArray(new int[]{2, 9}, 2));
        check(run1("OneHot", 11, List.of(idx, depth, vals)), ElemType.INT32, shape(3, 3), 9, 2, 2, 2, 2, 9, 2, 2, 2);
        check(run1("OneHot", 11, List.of(idx, depth, vals), i("axis", 0)), ElemType.INT32, shape(3, 3), 9, 2, 2, 2, 2, 2, 2, 9, 2);
    }

    @Test
    void scatterElementsReductions() {
        Value data = range(2, 3);
        Value idx = i64(new long[]{1, 1, -3}, 1, 3);
        Value upd = f32(new float[]{10, 20, 30}, 1, 3);
        check(run1("ScatterElements", 13, List.of(data, idx, upd), i("axis", 1)), ElemType.FLOAT, shape(2, 3), 30, 20, 2, 3, 4, 5);
        check(run1("ScatterElements", 16, List.of(data, idx, upd), i("axis", 1), s("reduction", "add")), ElemType.FLOAT, shape(2, 3), 30, 31, 2, 3, 4, 5);
        check(run1("ScatterElements", 16, List.of(data, idx, upd), i("axis", 1), s("reduction", "mul")), ElemType.FLOAT, shape(2, 3), 0, 200, 2, 3, 4, 5);
        check(run1("Scatter", 9, List.of(data, i64(new long[]{1, 0, 0}, 1, 3), upd)), ElemType.FLOAT, shape(2, 3), 0, 20, 30, 10, 4, 5);
    }

    @Test
    void scatterNdBlocksAndReductions() {
        Value data = range(3, 2);
        Value idx = i64(new long[]{2, 0}, 2, 1);
        Value upd = f32(new float[]{10, 11, 12, 13}, 2, 2);
        check(run1("ScatterND", 13, List.of(data, idx, upd)), ElemType.FLOAT, shape(3, 2), 12, 13, 2, 3, 10, 11);
        check(run1("ScatterND", 16, List.of(data, idx, upd), s("reduction", "add")), ElemType.FLOAT, shape(3, 2), 12, 14, 2, 3, 14, 16);
        Value cell = i64(new long[]{1, 1, 1, 1}, 2, 2);
        check(run1("ScatterND", 16, List.of(data, cell, f32(new float[]{2, 5}, 2)), s("reduction", "mul")), ElemType.FLOAT, shape(3, 2), 0, 1, 2, 30, 4, 5);
    }

    @Test
    void topKStableTiesAndSmallest() {
        Value x = f32(new float[]{1, 3, 3, 2, 5, 5, 0, 5}, 2, 4);
        List<Value> out = run("TopK", 11, List.of(x, i64(new long[]{2}, 1)), 2);
        check(out.get(0), ElemType.FLOAT, shape(2, 2), 3, 3, 5, 5);
        checkLongs(out.get(1), shape(2, 2), 1, 2, 0, 1);
        List<Value> small = run("TopK", 11, List.of(x, i64(new long[]{1}, 1)), 2, i("largest", 0), i("axis", 0));
        check(small.get(0), ElemType.FLOAT, shape(1, 4), 1, 3, 0, 2);
        checkLongs(small.get(1), shape(1, 4), 0, 0, 1, 0);
        List<Value> old = run("TopK", 1, List.of(x), 2, i("k", 3));
        checkLongs(old.get(1), shape(2, 3), 1, 2, 3, 0, 1, 3);
        Value big = Value.of(Tensor.fromArray(new long[]{Long.MAX_VALUE - 1, Long.MAX_VALUE, 0}, 3));
        checkLongs(run("TopK", 11, List.of(big, i64(new long[]{1}, 1)), 2).get(0), shape(1), Long.MAX_VALUE);
    }

    @Test
    void uniqueFlatAndByAxis() {
        Value x = f32(new float[]{2, 1, 1, 3, 4, 3}, 6);
        List<Value> u = run("Unique", 11, List.of(x), 4);
        check(u.get(0), ElemType.FLOAT, shape(4), 1, 2, 3, 4);
        checkLongs(u.get(1), shape(4), 1, 0, 3, 4);
        checkLongs(u.get(2), shape(6), 1, 0, 0, 2, 3, 2);
        checkLongs(u.get(3), shape(4), 2, 1, 2, 1);
        List<Value> unsorted = run("Unique", 11, List.of(x), 4, i("sorted", 0));
        check(unsorted.get(0), ElemType.FLOAT, shape(4), 2, 1, 3, 4);
        checkLongs(unsorted.get(2), shape(6), 0, 1, 1, 2, 3, 2);
        Value m = Value.of(Tensor.fromArray(new int[]{1, 0, 0, 1, 0, 0, 2, 3, 4}, 3, 3));
        List<Value> rows = run("Unique", 11, List.of(m), 4, i("axis", -2));
        check(rows.get(0), ElemType.INT32, shape(2, 3), 1, 0, 0, 2, 3, 4);
        checkLongs(rows.get(2), shape(3), 0, 0, 1);
        checkLongs(rows.get(3), shape(2), 2, 1);
        assertEquals(1, run("Unique", 11, List.of(x), 1).size());
        assertEquals(DType.F32, ((Value.TensorValue) u.get(0)).tensor().dtype());
    }

    @Test
    void narrowAndWidenedTypesSurviveExactly() {
        Value h = typed(ElemType.FLOAT16, new double[]{0.5, -1.25, 65504, 3}, 4);
        List<Value> top = run("TopK", 11, List.of(h, i64(new long[]{2}, 1)), 2);
        check(top.get(0), ElemType.FLOAT16, shape(2), 65504, 3);
        Value b = typed(ElemType.BOOL, new double[]{1, 0, 0, 1}, 2, 2);
        check(run1("Pad", 13, List.of(b, i64(new long[]{0, 1, 0, 0}, 4)), s("mode", "edge")), ElemType.BOOL, shape(2, 3), 1, 1, 0, 0, 0, 1);
        Value u64 = typed(ElemType.UINT64, new double[]{1, 5}, 2);
        Value i8 = typed(ElemType.INT8, new double[]{-128, 127, 3}, 3);
        check(run1("GatherND", 13, List.of(i8, i64(new long[]{1, 0}, 2, 1))), ElemType.INT8, shape(2), 127, -128);
        check(run1("ScatterND", 16, List.of(u64, i64(new long[]{1}, 1, 1), typed(ElemType.UINT64, new double[]{2}, 1)),
                s("reduction", "add")), ElemType.UINT64, shape(2), 1, 7);
    }

    @Test
    void opsCloseTheirIntermediates() {
        Value x = range(2, 4), idx = i64(new long[]{1, -1}, 2);
        List<List<Value>> inputs = List.of(List.of(x, idx), List.of(x, i64(new long[]{2, 1}, 2)), List.of(x), List.of(x, idx));
        String[] ops = {"Gather", "Tile", "Unique", "Compress"};
        for (int k = 0; k < ops.length; k++) {
            for (int warm = 0; warm < 2; warm++) { // the first call may load classes that allocate
                long before = dev.kiln.tensor.Storage.liveCountIgnoringCleaner();
                for (Value v : run(ops[k], 13, inputs.get(k), 1)) ((Value.TensorValue) v).tensor().close();
                assertEquals(before, dev.kiln.tensor.Storage.liveCountIgnoringCleaner(), ops[k] + " leaks storage");
            }
        }
    }
}
