package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * ONNX linear quantization: QuantizeLinear, DequantizeLinear (per tensor or per axis),
 * DynamicQuantizeLinear, MatMulInteger and QLinearMatMul; the convolutions are in {@link QuantConv}.
 *
 * <p>Quantizing rounds half to even and saturates to the output type (uint8 by default; uint8 is
 * stored widened in int32, see {@link ElemType}). When x and the scale are float32 the division is
 * done in float32, as the reference does. The integer matmuls subtract the zero points and
 * multiply in float64 with Kiln's GEMM, which is exact for 8-bit operands (every partial sum stays
 * far below 2^53), then convert to int32.
 */
final class QuantOps {
    private QuantOps() {}

    /** Whether the int8 kernels of {@link QuantFast} run where they apply (tests compare with the reference path). */
    static volatile boolean fast = true;

    static void register(OpRegistry r) {
        r.register("QuantizeLinear", QuantOps::quantizeLinear);
        r.register("DequantizeLinear", QuantOps::dequantizeLinear);
        r.register("DynamicQuantizeLinear", QuantOps::dynamicQuantizeLinear);
        r.register("MatMulInteger", QuantOps::matMulInteger);
        r.register("QLinearMatMul", QuantOps::qLinearMatMul);
        r.register("dev.kiln", "QuantMatMul", QuantFast::quantMatMul); // GraphOptimizer's fused dynamic int8 MatMul (QuantMatMulFusion)
        r.register("dev.kiln", "FakeQuant", QuantFake::fakeQuant);     // GraphOptimizer's QuantizeLinear -> DequantizeLinear of a QDQ model
        QuantConv.register(r);
    }

    // ------------------------------------------------------------------ (de)quantize

    private static List<Value> quantizeLinear(OpCall call) {
        Tensor x = call.in(0);
        ElemType outType = call.has(2) ? call.type(2) : ElemType.UINT8;
        checkQuantType(call, outType);
        double[] v = x.toDoubleArray();
        double[] scale = perAxis(call, x, 1, "y_scale");
        double[] zp = call.has(2) ? perAxis(call, x, 2, "y_zero_point") : new double[]{0};
        boolean f32 = call.type(0) == ElemType.FLOAT && call.type(1) == ElemType.FLOAT;
        int[] idx = axisIndex(call, x, scale.length);
        long[] q = new long[v.length];
        for (int i = 0; i < v.length; i++) {
            int a = idx == null ? 0 : idx[i];
            q[i] = saturate(Math.rint(divide(v[i], scale[a], f32)) + zp[zp.length == 1 ? 0 : a], outType);
        }
        return List.of(NormArrays.value(q, outType, x.shape()));
    }

    private static List<Value> dequantizeLinear(OpCall call) {
        Tensor x = call.in(0);
        double[] v = x.toDoubleArray();
        double[] scale = perAxis(call, x, 1, "x_scale");
        double[] zp = call.has(2) ? perAxis(call, x, 2, "x_zero_point") : new double[]{0};
        int[] idx = axisIndex(call, x, scale.length);
        double[] y = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            int a = idx == null ? 0 : idx[i];
            y[i] = (v[i] - zp[zp.length == 1 ? 0 : a]) * scale[a];
        }
        return List.of(NormArrays.value(y, call.type(1), x.shape()));
    }

    private static List<Value> dynamicQuantizeLinear(OpCall call) {
        if (fast) {
            List<Value> r = QuantFast.dynamicQuantize(call);
            if (r != null) return r;
        }
        Tensor x = call.in(0);
        double[] v = x.toDoubleArray();
        float min = 0, max = 0;
        for (double d : v) {
            min = Math.min(min, (float) d);
            max = Math.max(max, (float) d);
        }
        float scale = (max - min) / 255f;
        double zp = scale == 0 ? 0 : saturate(Math.rint((0 - min) / scale), ElemType.UINT8);
        long[] q = new long[v.length];
        for (int i = 0; i < v.length; i++)
            q[i] = scale == 0 ? (long) zp : saturate(Math.rint((float) v[i] / scale) + zp, ElemType.UINT8);
        return List.of(NormArrays.value(q, ElemType.UINT8, x.shape()),
                NormArrays.value(new double[]{scale}, ElemType.FLOAT),
                NormArrays.value(new long[]{(long) zp}, ElemType.UINT8));
    }

    static double divide(double x, double scale, boolean f32) {
        return f32 ? (double) ((float) x / (float) scale) : x / scale;
    }

    /** Rounds already done; clamps to the integer type's range. */
    static long saturate(double v, ElemType type) {
        return (long) Math.max(type.minValue(), Math.min(type.maxValue(), v));
    }

    static void checkQuantType(OpCall call, ElemType t) {
        if (t != ElemType.UINT8 && t != ElemType.INT8 && t != ElemType.UINT16 && t != ElemType.INT16)
            throw call.error("quantized type must be uint8, int8, uint16 or int16, got " + t);
    }

    /** A scale or zero point: one value (per tensor) or one per index of the axis attribute's dim. */
    private static double[] perAxis(OpCall call, Tensor x, int i, String name) {
        Tensor p = call.in(i);
        if (p.numel() == 1) return p.toDoubleArray();
        if (p.dim() != 1 || x.dim() == 0 || p.numel() != x.size(quantAxis(call, x)))
            throw call.error(name + " shape " + Arrays.toString(p.shape()) + " is neither a scalar nor the size of axis "
                    + call.attrInt("axis", 1) + " of input shape " + Arrays.toString(x.shape()));
        return p.toDoubleArray();
    }

    private static int quantAxis(OpCall call, Tensor x) {
        long a = call.attrInt("axis", 1);
        if (a < -x.dim() || a >= x.dim()) throw call.error("axis " + a + " out of range for rank " + x.dim());
        return (int) (a < 0 ? a + x.dim() : a);
    }

    /** For per-axis parameters (count > 1): the axis index of each flat element; null per tensor. */
    private static int[] axisIndex(OpCall call, Tensor x, int count) {
        if (count <= 1) return null;
        int axis = quantAxis(call, x);
        int[] s = x.shape();
        int inner = NormArrays.prod(s, axis + 1, s.length), dim = s[axis];
        int[] idx = new int[Math.toIntExact(x.numel())];
        for (int i = 0; i < idx.length; i++) idx[i] = (i / inner) % dim;
        return idx;
    }

    // ------------------------------------------------------------------ integer matmuls

    private static List<Value> matMulInteger(OpCall call) {
        if (fast) {
            List<Value> r = QuantFast.matMulInteger(call);
            if (r != null) return r;
        }
        try (Scope s = Scope.open()) {
            Tensor acc = integerProduct(call, 0, call.has(2) ? 2 : -1, 1, call.has(3) ? 3 : -1);
            return List.of(Value.of(s.keep(acc.to(DType.I32)), ElemType.INT32));
        }
    }

    private static List<Value> qLinearMatMul(OpCall call) {
        ElemType outType = call.type(7);
        checkQuantType(call, outType);
        try (Scope s = Scope.open()) {
            Tensor acc = integerProduct(call, 0, 2, 3, 5);
            int[] shape = acc.shape();
            int m = shape.length >= 2 ? shape[shape.length - 2] : 1, n = shape[shape.length - 1];
            double[] a = acc.toDoubleArray();
            double[] as = call.in(1).toDoubleArray(), bs = call.in(4).toDoubleArray();
            double ys = call.in(6).item(), yzp = call.in(7).item();
            checkCount(call, as, m, "a_scale");
            checkCount(call, bs, n, "b_scale");
            long[] q = new long[a.length];
            for (int i = 0; i < a.length; i++) {
                int row = (i / n) % m, col = i % n;
                double real = a[i] * as[as.length == 1 ? 0 : row] * bs[bs.length == 1 ? 0 : col];
                q[i] = saturate(Math.rint(real / ys) + yzp, outType);
            }
            Value y = NormArrays.value(q, outType, shape);
            s.keep(y.tensor());
            return List.of(y);
        }
    }

    private static void checkCount(OpCall call, double[] v, int want, String name) {
        if (v.length != 1 && v.length != want) throw call.error(name + " has " + v.length + " values, expected 1 or " + want);
    }

    /** (A - a_zp) x (B - b_zp) in float64 (exact); a_zp is per tensor or per row, b_zp per tensor or per column. */
    private static Tensor integerProduct(OpCall call, int ai, int azi, int bi, int bzi) {
        Tensor a = call.in(ai), b = call.in(bi);
        Tensor ac = centered(call, a, azi, true), bc = centered(call, b, bzi, false);
        return ac.matmul(bc);
    }

    private static Tensor centered(OpCall call, Tensor q, int zpIndex, boolean rows) {
        Tensor d = q.to(DType.F64);
        if (zpIndex < 0 || !call.has(zpIndex)) return d;
        Tensor zp = call.in(zpIndex);
        if (zp.numel() == 1) return d.sub(zp.item());
        int dim = rows ? q.size(-2) : q.size(-1);
        if (zp.numel() != dim)
            throw call.error("zero point shape " + Arrays.toString(zp.shape()) + " does not match "
                    + (rows ? "the rows" : "the columns") + " of shape " + Arrays.toString(q.shape()));
        Tensor z = zp.to(DType.F64).reshape(rows ? new int[]{dim, 1} : new int[]{dim});
        return d.sub(z);
    }
}
