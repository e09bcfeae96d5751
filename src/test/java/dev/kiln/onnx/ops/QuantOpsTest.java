package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.kiln.onnx.ops.NormTestKit.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Quantization ops: rounding, saturation, per-axis parameters, exact integer accumulation. */
class QuantOpsTest {

    private static long[] longs(Value v) { return v.tensor().toLongArray(); }

    @Test
    void quantizeRoundsHalfToEvenAndSaturates() {
        Value y = op("QuantizeLinear").opset(13)
                .in(f32(new double[]{2.5, 3.5, -2.5, 1000, -1000, 0.4}, 6), scalar(1, ElemType.FLOAT), scalar(10, ElemType.UINT8)).run(0);
        assertShape(y, ElemType.UINT8, 6);
        assertArrayEquals(new long[]{12, 14, 8, 255, 0, 10}, longs(y));
        Value s8 = op("QuantizeLinear").opset(13)
                .in(f32(new double[]{-300, 5, 300}, 3), scalar(2, ElemType.FLOAT), scalar(-1, ElemType.INT8)).run(0);
        assertShape(s8, ElemType.INT8, 3);
        assertArrayEquals(new long[]{-128, 1, 127}, longs(s8));
        Value noZp = op("QuantizeLinear").opset(13).in(f32(new double[]{-3, 3}, 2), scalar(1, ElemType.FLOAT)).run(0);
        assertShape(noZp, ElemType.UINT8, 2);
        assertArrayEquals(new long[]{0, 3}, longs(noZp));
    }

    @Test
    void perAxisQuantizeAndDequantize() {
        double[] x = {1, 2, 3, 4, 5, 6, 7, 8};                    // [2, 2, 2], axis 1
        Value scale = f32(new double[]{0.5, 2}, 2), zp = typed(ElemType.UINT8, new double[]{1, 100}, 2);
        Value q = op("QuantizeLinear").opset(13).in(f32(x, 2, 2, 2), scale, zp).run(0);
        assertArrayEquals(new long[]{3, 5, 102, 102, 11, 13, 104, 104}, longs(q));
        Value back = op("DequantizeLinear").opset(13).in(q, scale, zp).run(0);
        assertShape(back, ElemType.FLOAT, 2, 2, 2);
        assertClose(new double[]{1, 2, 4, 4, 5, 6, 8, 8}, back.tensor(), 0);
    }

    @Test
    void dynamicQuantizeLinearPicksScaleAndZeroPoint() {
        List<Value> out = op("DynamicQuantizeLinear").opset(11).outputs(3)
                .in(f32(new double[]{0, 2, -3, -2.5, 1.34, 0.5}, 6)).run();
        float scale = 5f / 255f;
        assertClose(new double[]{scale}, out.get(1).tensor(), 1e-7);
        assertArrayEquals(new long[]{153}, longs(out.get(2)));
        assertArrayEquals(new long[]{153, 255, 0, 26, 221, 179}, longs(out.get(0)));
    }

    @Test
    void matMulIntegerWithPerRowAndPerColumnZeroPoints() {
        double[] a = {11, 7, 3, 10, 6, 2}, b = {1, 4, 2, 5, 3, 6};     // A [2, 3], B [3, 2]
        double[] az = {1, 2}, bz = {1, 3};
        Value y = op("MatMulInteger").opset(10).in(typed(ElemType.UINT8, a, 2, 3), typed(ElemType.UINT8, b, 3, 2),
                typed(ElemType.UINT8, az, 2), typed(ElemType.UINT8, bz, 2)).run(0);
        long[] want = new long[4];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                for (int k = 0; k < 3; k++) want[i * 2 + j] += (long) (a[i * 3 + k] - az[i]) * (long) (b[k * 2 + j] - bz[j]);
        assertShape(y, ElemType.INT32, 2, 2);
        assertArrayEquals(want, longs(y));
    }

    @Test
    void qLinearMatMulMatchesSpecExample() {
        Value y = op("QLinearMatMul").opset(10).in(
                typed(ElemType.UINT8, new double[]{208, 236, 0, 238, 3, 214, 255, 29}, 2, 4), f32(new double[]{0.0066}, 1),
                typed(ElemType.UINT8, new double[]{113}, 1),
                typed(ElemType.UINT8, new double[]{152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247}, 4, 3),
                f32(new double[]{0.00705}, 1), typed(ElemType.UINT8, new double[]{114}, 1),
                f32(new double[]{0.0107}, 1), typed(ElemType.UINT8, new double[]{118}, 1)).run(0);
        assertArrayEquals(new long[]{168, 115, 255, 1, 66, 151}, longs(y));
    }

    @Test
    void convIntegerPadsWithTheZeroPoint() {
        Value x = typed(ElemType.UINT8, new double[]{2, 3, 4, 5, 6, 7, 8, 9, 10}, 1, 1, 3, 3);
        Value w = typed(ElemType.UINT8, new double[]{1, 1, 1, 1}, 1, 1, 2, 2);
        Value y = op("ConvInteger").opset(10).ints("pads", 1, 1, 1, 1).in(x, w, scalar(1, ElemType.UINT8)).run(0);
        assertShape(y, ElemType.INT32, 1, 1, 4, 4);
        assertArrayEquals(new long[]{1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9}, longs(y));
    }

    @Test
    void qLinearConvRequantizesGroupedStridedConv() {
        // 2 input channels, group 2, stride 2 over a 1-d signal; compare with a double loop.
        double[] x = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, w = {3, 1, 2, 7};   // X [1,2,5], W [2,1,2]
        double xs = 0.05, xz = 12, ys = 0.2, yz = 5;
        double[] ws = {0.1, 0.02}, wz = {2, 4};
        Value y = op("QLinearConv").opset(10).i("group", 2).ints("strides", 2).in(
                typed(ElemType.UINT8, x, 1, 2, 5), scalar(xs, ElemType.FLOAT), scalar(xz, ElemType.UINT8),
                typed(ElemType.UINT8, w, 2, 1, 2), f32(ws, 2), typed(ElemType.UINT8, wz, 2),
                scalar(ys, ElemType.FLOAT), scalar(yz, ElemType.UINT8)).run(0);
        long[] want = new long[4];
        for (int m = 0; m < 2; m++)
            for (int o = 0; o < 2; o++) {
                long acc = 0;
                for (int k = 0; k < 2; k++) acc += (long) (x[m * 5 + o * 2 + k] - xz) * (long) (w[m * 2 + k] - wz[m]);
                want[m * 2 + o] = Math.max(0, Math.min(255, (long) Math.rint(acc * xs * ws[m] / ys) + (long) yz));
            }
        assertShape(y, ElemType.UINT8, 1, 2, 2);
        assertArrayEquals(want, longs(y));
    }
}
