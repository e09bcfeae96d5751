package dev.kiln.onnx.ops;

import dev.kiln.compress.quant.Int8Gemm;
import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import java.util.List;

/**
 * The int8 kernels behind the ops ONNX Runtime's {@code quantize_dynamic} writes
 * (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul): exact integer results, the same as
 * {@link QuantOps}' float64 reference (which stays for every other case and the conformance tests).
 * <ul>
 *   <li>{@link #dynamicQuantize}: one vector pass for min/max and one to quantize, in float (the
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
        Params p;
        try (Tensor xc = x.contiguous()) {
            p = params(xc.segment(), 4L * xc.offset(), xc.numel());
        }
        float scale = p.scale;
        int zp = p.zp;
        float[] v = x.toFloatArray();
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
        correct(c, n, 0, m, n, k, rowSum, packed.rowSums(), zaShift, zbv);
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
    private static void correct(int[] c, int ldc, int r0, int r1, int n, int k, int[] rowSum, int[] colSum, int zaShift, int[] zbv) {
        for (int r = r0; r < r1; r++) {
            int rowTerm = rowSum[r] - k * zaShift, o = r * ldc;
            if (zbv.length == 1) {
                int zr = zbv[0] * rowTerm;
                for (int j = 0; j < n; j++) c[o + j] -= zaShift * colSum[j] + zr;
            } else {
                for (int j = 0; j < n; j++) c[o + j] -= zaShift * colSum[j] + zbv[j] * rowTerm;
            }
        }
    }

    /**
     * A per-thread buffer for QuantMatMul's quantized input (reused: no allocation and zeroing per
     * call), and what it holds now. (The int32 product never exists whole: see Int8Gemm.Epilogue.)
     */
    private static final class Scratch {
        private byte[] b = new byte[0];
        /** The input b holds quantized (null: none known). */
        Quantized last;

        byte[] bytes(int n) {
            if (b.length >= n) return b;
            last = null;
            return b = new byte[n];
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * An input X quantized into a thread's scratch bytes: the tensor object and the executor run
     * (OpCall.run: within a run no op writes a value another reads), its rows and K,
     * DynamicQuantizeLinear's scale and zero point, and each row's sum. BERT's query, key and value
     * projections read the same X: the second and third find it quantized.
     */
    private record Quantized(Tensor x, int m, int k, long run, float scale, int zp, int[] rowSum) {
        boolean holds(Tensor t, int rows, int cols, long call) {
            return call >= 0 && run == call && x == t && m == rows && k == cols && !t.isClosed();
        }
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.nativeOrder();
    /** 1.5 * 2^23: (x + M) - M rounds a float |x| < 2^22 to an integer, half to even, as Math.rint does. */
    private static final float ROUND = 12582912f;

    /** DynamicQuantizeLinear's scale and uint8 zero point. */
    private record Params(float scale, int zp) {}

    /**
     * The scale and zero point DynamicQuantizeLinear computes for n floats of x at byte offset off,
     * as QuantOps' reference does: the range widened to include 0, scale = (max - min) / 255,
     * zp = clamp(rint(-min / scale)).
     */
    private static Params params(MemorySegment x, long off, long n) {
        float[] mm = range(x, off, n);
        float scale = (mm[1] - mm[0]) / 255f;
        return new Params(scale, scale == 0 ? 0 : (int) clamp(Math.rint((0 - mm[0]) / scale)));
    }

    /**
     * min(0, min x) and max(0, max x) over n floats of x at byte offset off (DynamicQuantizeLinear's
     * range); NaN when x holds a NaN. Blocks of 64K floats over the threads, each reduced with
     * compares and blends (Java's vector min/max, which keep NaN and order -0 below +0, cost several
     * instructions each on x86; a NaN is caught by its own compare, and -0 vs +0 cannot change the
     * scale or the zero point). In BERT-base's int8 graph this pass took 6% of the QuantMatMul time
     * on one thread.
     */
    private static float[] range(MemorySegment x, long off, long n) {
        int blocks = (int) Math.max(1, (n + RANGE_BLOCK - 1) / RANGE_BLOCK);
        float[] mins = new float[blocks], maxs = new float[blocks];
        dev.kiln.backend.cpu.Parallel.forRange(blocks, RANGE_BLOCK, (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                long s = b * RANGE_BLOCK, e = Math.min(n, s + RANGE_BLOCK);
                float[] r = Int8Gemm.nativeQuantize() && x.isNative() ? Int8Gemm.quantizeRange(x, off + 4 * s, e - s) : rangeOf(x, off + 4 * s, e - s);
                mins[b] = r[0];
                maxs[b] = r[1];
            }
        });
        float min = 0f, max = 0f;
        for (int b = 0; b < blocks; b++) {
            min = Math.min(min, mins[b]);
            max = Math.max(max, maxs[b]);
        }
        return new float[]{min, max};
    }

    /** Floats per task of {@link #range}. */
    private static final long RANGE_BLOCK = 1 << 16;

    private static float[] rangeOf(MemorySegment x, long off, long n) {
        FloatVector lo = FloatVector.zero(F), hi = lo;
        VectorMask<Float> nan = F.maskAll(false);
        long i = 0;
        for (long e = n - n % F.length(); i < e; i += F.length()) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, off + 4 * i, LE);
            lo = lo.blend(v, v.compare(VectorOperators.LT, lo));
            hi = hi.blend(v, v.compare(VectorOperators.GT, hi));
            nan = nan.or(v.compare(VectorOperators.NE, v));
        }
        if (nan.anyTrue()) return new float[]{Float.NaN, Float.NaN};
        float min = lo.reduceLanes(VectorOperators.MIN), max = hi.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            float f = x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, off + 4 * i);
            min = Math.min(min, f);
            max = Math.max(max, f);
        }
        return new float[]{min, max};
    }

    /**
     * Rows [r0, r1) of x (row-major [m, k] at byte offset off) quantized as DynamicQuantizeLinear
     * does, q = clamp(rint(x / scale) + zp, 0, 255), stored as a' = q - 128 (int8), with each
     * row's sum of a'. In vectors: x / scale in float, then the ROUND trick (exact: |x / scale| <= 255).
     */
    private static void quantizeRows(MemorySegment x, long off, int k, int r0, int r1, float scale, int zp, byte[] ab, int[] rowSum) {
        if (scale != 0 && Int8Gemm.nativeQuantize() && x.isNative()) {   // the same operations in C (no bounds checks, masked tail)
            Int8Gemm.quantizeRows(x, off, k, r0, r1, scale, zp - 128, ab, rowSum);
            return;
        }
        FloatVector lo = FloatVector.broadcast(F, -128f), hi = FloatVector.broadcast(F, 127f);
        float shift = zp - 128;
        for (int r = r0; r < r1; r++) {
            int sum = 0, p = 0;
            long row = off + 4L * r * k;
            if (scale != 0) {
                IntVector acc = IntVector.zero(I);
                for (int e = k - k % F.length(); p < e; p += F.length()) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, row + 4L * p, LE).div(scale);
                    v = v.add(ROUND).sub(ROUND).add(shift);
                    // the clamp to [-128, 127] by compares and blends (a NaN x gives a NaN scale, so every lane is NaN then,
                    // and the F2I conversion makes 0 of it either way)
                    v = v.blend(lo, v.compare(VectorOperators.LT, lo)).blend(hi, v.compare(VectorOperators.GT, hi));
                    IntVector q = (IntVector) v.convertShape(VectorOperators.F2I, I, 0);
                    q.convertShape(VectorOperators.I2B, jdk.incubator.vector.ByteVector.SPECIES_128, 0)
                            .reinterpretAsBytes().intoArray(ab, r * k + p, VectorMask.fromLong(jdk.incubator.vector.ByteVector.SPECIES_128, (1L << F.length()) - 1));
                    acc = acc.add(q);
                }
                sum = acc.reduceLanes(VectorOperators.ADD);
            }
            for (; p < k; p++) {
                float f = x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, row + 4L * p);
                int q = (scale == 0 ? zp : (int) clamp(Math.rint(f / scale) + zp)) - 128;
                ab[r * k + p] = (byte) q;
                sum += q;
            }
            rowSum[r] = sum;
        }
    }

    /**
     * Rows [r0, r1), columns [j0, j1) (element (r, j) of C at c[base + r * ldc + j]): the exact integer correction of c, then y = (float) c * s[j]
     * (s: one scale, or one per column) + bias[j], stored to y (row-major [m, n] at byte offset yOff).
     */
    private static void dequantBlock(int[] c, int base, int ldc, MemorySegment y, long yOff, int r0, int r1, int j0, int j1, int n, int k,
                                     int[] rowSum, int[] colTerm, int zaShift, int[] zbv, float[] s, float[] bias) {
        boolean oneZb = zbv.length == 1, oneS = s.length == 1;
        for (int r = r0; r < r1; r++) {
            int o = base + r * ldc, j = j0;
            int rowTerm = rowSum[r] - k * zaShift, zr = zbv[0] * rowTerm;
            long row = yOff + 4L * r * n;
            // the correction c - (za' colsum(B)[j] + zb[j] (rowsum(a') - K za')) in int lanes (wrapping as the scalar ints do), then the scale
            for (int e = j1 - (j1 - j0) % I.length(); j < e; j += I.length()) {
                IntVector corr = IntVector.fromArray(I, colTerm, j);
                corr = oneZb ? corr.add(zr) : corr.add(IntVector.fromArray(I, zbv, j).mul(rowTerm));
                FloatVector f = (FloatVector) IntVector.fromArray(I, c, o + j).sub(corr).convertShape(VectorOperators.I2F, F, 0);
                f = f.mul(oneS ? FloatVector.broadcast(F, s[0]) : FloatVector.fromArray(F, s, j));
                if (bias != null) f = f.add(FloatVector.fromArray(F, bias, j));
                f.intoMemorySegment(y, row + 4L * j, LE);
            }
            for (; j < j1; j++) {
                int ci = c[o + j] - (colTerm[j] + (oneZb ? zr : zbv[j] * rowTerm));
                float v = (float) ci * s[oneS ? 0 : j];
                y.set(ValueLayout.JAVA_FLOAT_UNALIGNED, row + 4L * j, bias == null ? v : v + bias[j]);
            }
        }
    }

    /**
     * dev.kiln "QuantMatMul" (made by the graph optimizer from DynamicQuantizeLinear -> MatMulInteger
     * -> Cast -> Mul(., Mul(x_scale, w_scale)); see QuantMatMulFusion): inputs X float [..., K], Wq
     * int8 [K, N] (constant), Wz int8 (scalar or [N], or absent), Ws float (scalar or [N]); output
     * float [..., N]. One pass for X's range, one to quantize it straight to a' = q - 128 (int8),
     * the int8 GEMM, then the exact integer correction and the float scale per element:
     * y = (float) c * (x_scale * w_scale[j]) (+ bias[j] when a fifth input, a float [N], is given:
     * the Add the fusion absorbed), the same float operations as the unfused nodes, so the result
     * equals theirs bit for bit; attribute activation (Relu, Gelu, GeluTanh: the node the fusion
     * took in) is then applied to each block of rows in place.
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
        try (Tensor xc = x.contiguous()) {
            MemorySegment xs = xc.segment();
            long xOff = 4L * xc.offset();
            Scratch sc = SCRATCH.get();
            byte[] ab = sc.bytes(m * k);
            Quantized qx = sc.last;
            if (qx == null || !qx.holds(x, m, k, call.run())) {
                // DynamicQuantizeLinear: the range includes 0; scale and zero point as QuantOps computes them
                Params p = params(xs, xOff, (long) m * k);
                float scale0 = p.scale;
                int zp0 = p.zp;
                int[] sums = new int[m];
                if (m == 1) quantizeRows(xs, xOff, k, 0, 1, scale0, zp0, ab, sums);
                else dev.kiln.backend.cpu.Parallel.forRange(m, 4L * k, (r0, r1) -> quantizeRows(xs, xOff, k, r0, r1, scale0, zp0, ab, sums));
                sc.last = qx = new Quantized(x, m, k, call.run(), scale0, zp0, sums);
            }
            float scale = qx.scale;
            int zp = qx.zp;
            int[] rowSum = qx.rowSum;
            int[] zbv = zb == null ? new int[]{0} : zb.toIntArray();
            float[] bias = call.has(4) ? call.in(4).toFloatArray() : null;
            if (bias != null && bias.length != n) throw call.error("QuantMatMul bias has " + bias.length + " values for " + n + " columns");
            float[] wsv = ws.toFloatArray(), s = new float[wsv.length];
            for (int j = 0; j < s.length; j++) s[j] = scale * wsv[j];   // Mul(x_scale, w_scale) in float
            int zaShift = zp - 128;
            int[] colTerm = packed.rowSums();
            for (int j = 0; j < n; j++) colTerm[j] *= zaShift;             // za' colsum(B)[j] (rowSums() is a copy)
            int[] shape = x.shape().clone();
            shape[shape.length - 1] = n;
            Tensor y = Tensor.uninitialized(x.backend(), DType.F32, shape);
            MemorySegment ys = y.segment();
            long yOff = 4L * y.offset();
            dev.kiln.ops.UnaryOp act = ReduceMatOps.fusedActivation(call);
            // each block of C as the GEMM finishes it, on its thread while it is in that core's cache:
            // dequantized into y, then the activation (elementwise: the same values as row by row)
            Int8Gemm.Epilogue store = (c, off, ldc, r0, rows, c0, cols) -> {
                int j1 = Math.min(n, c0 + cols);
                if (c0 >= j1) return;
                dequantBlock(c, off - r0 * ldc - c0, ldc, ys, yOff, r0, r0 + rows, c0, j1, n, k, rowSum, colTerm, zaShift, zbv, s, bias);
                if (act != null) {
                    try (Tensor block = Tensor.of(y.storage(), DType.F32, new int[]{rows, j1 - c0}, new long[]{n, 1},
                            y.offset() + (long) r0 * n + c0)) {
                        block.backend().unary(act, block, block, 0, 0);
                    }
                }
            };
            Int8Gemm.matmulTPadded(ab, m, k, packed, null, store);   // VNNI: C tiles in a per-thread buffer, never whole
            MATMULS.incrementAndGet();
            return List.of(Value.of(y, ElemType.FLOAT));
        }
    }

    private record PackKey(long off, long rs, long cs, int k, int n) {}
}
