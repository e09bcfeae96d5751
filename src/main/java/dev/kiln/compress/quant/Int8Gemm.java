package dev.kiln.compress.quant;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * The int8 GEMM and its requantization epilogue, the kernels under every quantized layer.
 * <ul>
 *   <li>{@link #matmulT}: C [M, N] (int32) = A [M, K] (int8) x B [N, K]^T (int8), exact (int32
 *       accumulation; K up to 2^16 cannot overflow with int8 operands).</li>
 *   <li>{@link #requantize}: y[m, n] = act(aScale * wScale[n] * (C[m, n] - aZero * wRowSum[n]) + bias[n]),
 *       i.e. the real-valued result of (A - aZero) x W^T with symmetric per-channel weights, as
 *       float32, or re-quantized to int8 with (outScale, outZero).</li>
 * </ul>
 * This is the reference (scalar) implementation; the Vector API kernel replaces its body and
 * is tested against it.
 */
public final class Int8Gemm {
    private Int8Gemm() {}

    /** C = A B^T over int8, exact in int32. A is [M, K], B is [N, K]; both I8. */
    public static Tensor matmulT(Tensor a, Tensor b) {
        check(a, b);
        int m = a.size(0), k = a.size(1), n = b.size(0);
        byte[] av = bytes(a), bv = bytes(b);
        int[] c = new int[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                int s = 0;
                for (int p = 0; p < k; p++) s += av[i * k + p] * bv[j * k + p];
                c[i * n + j] = s;
            }
        return Tensor.fromArray(c, m, n);
    }

    /**
     * The epilogue. {@code acc} is I32 [M, N] from {@link #matmulT}; {@code wScale} and
     * {@code wRowSum} (the sum of each weight row's int8 values) have N entries; {@code bias} is
     * null or N floats. Returns F32 [M, N] when {@code outScale} is 0, else I8 [M, N] quantized
     * with (outScale, outZero) and saturated to [-128, 127] (round half to even).
     */
    public static Tensor requantize(Tensor acc, float aScale, int aZero, float[] wScale, int[] wRowSum, float[] bias,
                                    boolean relu, float outScale, int outZero) {
        if (acc.dtype() != DType.I32 || acc.dim() != 2)
            throw new IllegalArgumentException("int8 requantize: accumulator must be I32 [M, N], got " + acc.dtype() + " " + Shape.str(acc.shape()));
        int m = acc.size(0), n = acc.size(1);
        if (wScale.length != n || wRowSum.length != n || (bias != null && bias.length != n))
            throw new IllegalArgumentException("int8 requantize: per-channel arrays must have N = " + n + " entries");
        int[] c = acc.toIntArray();
        float[] y = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float v = aScale * wScale[j] * (c[i * n + j] - aZero * wRowSum[j]) + (bias == null ? 0 : bias[j]);
                y[i * n + j] = relu ? Math.max(v, 0) : v;
            }
        if (outScale == 0) return Tensor.fromArray(y, m, n);
        double[] q = new double[y.length];
        for (int i = 0; i < y.length; i++) q[i] = Math.max(-128, Math.min(127, Math.rint(y[i] / outScale) + outZero));
        return Tensor.fromDoubles(DType.I8, q, m, n);
    }

    private static void check(Tensor a, Tensor b) {
        if (a.dtype() != DType.I8 || b.dtype() != DType.I8 || a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1))
            throw new IllegalArgumentException("int8 gemm: need I8 A [M, K] and I8 B [N, K], got " + a.dtype() + " "
                    + Shape.str(a.shape()) + " and " + b.dtype() + " " + Shape.str(b.shape()));
    }

    private static byte[] bytes(Tensor t) {
        long[] v = t.toLongArray();
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) b[i] = (byte) v[i];
        return b;
    }
}
