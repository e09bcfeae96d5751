package dev.kiln.onnx.ops;

import dev.kiln.compress.quant.Int8Gemm;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * The int8 kernels behind the ops ONNX Runtime's {@code quantize_dynamic} writes
 * (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul): exact integer results, the same as
 * {@link QuantOps}' float64 reference (which stays for every other case and the conformance tests).
 * <ul>
 *   <li>{@link #dynamicQuantize}: one pass for min/max and one to quantize, in float (the
 *       reference converts the tensor to double twice).</li>
 *   <li>{@link #matMulInteger}: uint8 A [..., M, K] (zero point per tensor) times a constant int8
 *       B [K, N] (zero point per tensor or per column) on Kiln's int8 GEMM (native VNNI where the
 *       CPU has it). A - 128 fits int8, so with a' = A - 128 and za' = za - 128:
 *       sum (a - za)(b - zb) = sum a'b - za' colsum(B) - zb (rowsum(a') - K za'),
 *       every term exact in int32. B is packed once and kept with its storage.</li>
 * </ul>
 */
final class QuantFast {
    private QuantFast() {}

    /** Calls that took the int8 kernel (tests check that the fast path really ran). */
    static final java.util.concurrent.atomic.AtomicLong MATMULS = new java.util.concurrent.atomic.AtomicLong();

    /** y, y_scale, y_zero_point of DynamicQuantizeLinear for a float32 x, or null for other types. */
    static List<Value> dynamicQuantize(OpCall call) {
        Tensor x = call.in(0);
        if (x.dtype() != DType.F32) return null;
        float[] v = x.toFloatArray();
        float min = 0, max = 0;
        for (float f : v) {
            min = Math.min(min, f);
            max = Math.max(max, f);
        }
        float scale = (max - min) / 255f;
        int zp = scale == 0 ? 0 : (int) clamp(Math.rint((0 - min) / scale));
        int[] q = new int[v.length];
        for (int i = 0; i < v.length; i++) q[i] = scale == 0 ? zp : (int) clamp(Math.rint(v[i] / scale) + zp);
        return List.of(Value.of(Tensor.fromArray(q, x.shape()), ElemType.UINT8),
                Value.of(Tensor.fromArray(new float[]{scale}), ElemType.FLOAT),
                Value.of(Tensor.fromArray(new int[]{zp}), ElemType.UINT8));
    }

    private static double clamp(double v) { return Math.max(0, Math.min(255, v)); }

    /** MatMulInteger on the int8 GEMM, or null when the inputs are not the dynamic-quantization case. */
    static List<Value> matMulInteger(OpCall call) {
        if (call.type(0) != ElemType.UINT8 || call.type(1) != ElemType.INT8) return null;
        Tensor a = call.in(0), b = call.in(1);
        Tensor za = call.has(2) ? call.in(2) : null, zb = call.has(3) ? call.in(3) : null;
        if (a.dim() < 2 || b.dim() != 2 || a.size(-1) != b.size(0) || (za != null && za.numel() != 1)
                || !b.storage().isConstant() || (zb != null && zb.numel() != 1 && zb.numel() != b.size(1)))
            return null;
        int k = b.size(0), n = b.size(1), m = (int) (a.numel() / k);
        Int8Gemm.PackedInt8 packed = packed(b);
        int zaShift = (za == null ? 0 : (int) za.item()) - 128;
        int[] av = a.toIntArray();
        byte[] ab = new byte[av.length];
        int[] rowSum = new int[m];
        for (int i = 0, r = 0; r < m; r++) {
            int s = 0;
            for (int p = 0; p < k; p++, i++) {
                int q = av[i] - 128;
                ab[i] = (byte) q;
                s += q;
            }
            rowSum[r] = s;
        }
        int[] c = Int8Gemm.matmulT(ab, m, k, packed);
        MATMULS.incrementAndGet();
        int[] zbv = zb == null ? new int[]{0} : zb.toIntArray();
        correct(c, 0, m, n, k, rowSum, packed.rowSums(), zaShift, zbv);
        int[] shape = a.shape().clone();
        shape[shape.length - 1] = n;
        return List.of(Value.of(Tensor.fromArray(c, shape), ElemType.INT32));
    }

    /** B [K, N] (constant int8) packed for the int8 GEMM once, kept with its storage. */
    private static Int8Gemm.PackedInt8 packed(Tensor b) {
        return b.storage().derived(new PackKey(b.offset(), b.stride(0), b.stride(1), b.size(0), b.size(1)), key -> {
            try (Tensor bt = b.transpose(0, 1).contiguous()) {
                return Int8Gemm.pack(bt);
            }
        });
    }

    /** Rows [r0, r1) of c = sum a'b -> sum (a - za)(b - zb): minus za' colsum(B) + zb (rowsum(a') - K za'), exact in int32. */
    private static void correct(int[] c, int r0, int r1, int n, int k, int[] rowSum, int[] colSum, int zaShift, int[] zbv) {
        for (int r = r0; r < r1; r++) {
            int rowTerm = rowSum[r] - k * zaShift, o = r * n;
            if (zbv.length == 1) {
                int zr = zbv[0] * rowTerm;
                for (int j = 0; j < n; j++) c[o + j] -= zaShift * colSum[j] + zr;
            } else {
                for (int j = 0; j < n; j++) c[o + j] -= zaShift * colSum[j] + zbv[j] * rowTerm;
            }
        }
    }

    /** Rows [r0, r1) of x quantized to a' = q - 128 (int8), with each row's sum of a'. */
    private static void quantizeRows(float[] v, int k, int r0, int r1, float scale, int zp, byte[] ab, int[] rowSum) {
        for (int r = r0; r < r1; r++) {
            int sum = 0;
            for (int p = 0, i = r * k; p < k; p++, i++) {
                int q = (scale == 0 ? zp : (int) clamp(Math.rint(v[i] / scale) + zp)) - 128;
                ab[i] = (byte) q;
                sum += q;
            }
            rowSum[r] = sum;
        }
    }

    /** Rows [r0, r1): the exact integer correction, then y = (float) c * s[j] (s: one scale, or one per column). */
    private static void dequantRows(int[] c, float[] y, int r0, int r1, int n, int k, int[] rowSum, int[] colSum, int zaShift,
                                    int[] zbv, float[] s) {
        correct(c, r0, r1, n, k, rowSum, colSum, zaShift, zbv);
        for (int r = r0; r < r1; r++) {
            int o = r * n;
            if (s.length == 1) for (int j = 0; j < n; j++) y[o + j] = (float) c[o + j] * s[0];
            else for (int j = 0; j < n; j++) y[o + j] = (float) c[o + j] * s[j];
        }
    }

    /**
     * dev.kiln "QuantMatMul" (made by the graph optimizer from DynamicQuantizeLinear -> MatMulInteger
     * -> Cast -> Mul(., Mul(x_scale, w_scale)); see QuantMatMulFusion): inputs X float [..., K], Wq
     * int8 [K, N] (constant), Wz int8 (scalar or [N], or absent), Ws float (scalar or [N]); output
     * float [..., N]. One pass for X's range, one to quantize it straight to a' = q - 128 (int8),
     * the int8 GEMM, then the exact integer correction and the float scale per element:
     * y = (float) c * (x_scale * w_scale[j]), the same float operations as the unfused nodes, so
     * the result equals theirs bit for bit.
     */
    static List<Value> quantMatMul(OpCall call) {
        Tensor x = call.in(0), b = call.in(1), ws = call.in(3);
        Tensor zb = call.has(2) ? call.in(2) : null;
        if (x.dtype() != DType.F32 || b.dtype() != DType.I8 || b.dim() != 2 || x.dim() < 1 || x.size(-1) != b.size(0)
                || !b.storage().isConstant() || (zb != null && zb.numel() != 1 && zb.numel() != b.size(1))
                || ws.dtype() != DType.F32 || (ws.numel() != 1 && ws.numel() != b.size(1)))
            throw call.error("QuantMatMul needs float X [..., K], a constant int8 [K, N] weight, int8 zero points and float scales"
                    + " (scalar or [N]); got X " + dev.kiln.tensor.Shape.str(x.shape()) + " " + x.dtype().pyName() + ", W "
                    + dev.kiln.tensor.Shape.str(b.shape()) + " " + b.dtype().pyName());
        int k = b.size(0), n = b.size(1), m = (int) (x.numel() / k);
        Int8Gemm.PackedInt8 packed = packed(b);
        float[] v = x.toFloatArray();
        // DynamicQuantizeLinear: the range includes 0; scale and zero point as QuantOps computes them
        float min = 0, max = 0;
        for (float f : v) {
            min = Math.min(min, f);
            max = Math.max(max, f);
        }
        float scale = (max - min) / 255f;
        int zp = scale == 0 ? 0 : (int) clamp(Math.rint((0 - min) / scale));
        byte[] ab = new byte[v.length];
        int[] rowSum = new int[m];
        if (m == 1) quantizeRows(v, k, 0, 1, scale, zp, ab, rowSum);
        else dev.kiln.backend.cpu.Parallel.forRange(m, 4L * k, (r0, r1) -> quantizeRows(v, k, r0, r1, scale, zp, ab, rowSum));
        int[] c = Int8Gemm.matmulT(ab, m, k, packed);
        MATMULS.incrementAndGet();
        int[] zbv = zb == null ? new int[]{0} : zb.toIntArray();
        float[] wsv = ws.toFloatArray(), s = new float[wsv.length];
        for (int j = 0; j < s.length; j++) s[j] = scale * wsv[j];   // Mul(x_scale, w_scale) in float
        float[] y = new float[m * n];
        int[] colSum = packed.rowSums();
        int zaShift = zp - 128;
        if (m == 1) dequantRows(c, y, 0, 1, n, k, rowSum, colSum, zaShift, zbv, s);
        else dev.kiln.backend.cpu.Parallel.forRange(m, 4L * n, (r0, r1) -> dequantRows(c, y, r0, r1, n, k, rowSum, colSum, zaShift, zbv, s));
        int[] shape = x.shape().clone();
        shape[shape.length - 1] = n;
        return List.of(Value.of(Tensor.fromArray(y, shape), ElemType.FLOAT));
    }

    private record PackKey(long off, long rs, long cs, int k, int n) {}
}
