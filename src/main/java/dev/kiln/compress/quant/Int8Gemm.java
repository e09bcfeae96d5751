package dev.kiln.compress.quant;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The int8 GEMM and its requantization epilogue, the kernels under every quantized layer.
 * <ul>
 *   <li>{@link #matmulT}: C [M, N] (int32) = A [M, K] (int8) x B [N, K]^T (int8), exact (int32
 *       accumulation; K up to 2^16 cannot overflow with int8 operands). B (the weights) can be
 *       packed once with {@link #pack} and reused; the kernel is {@link Int8GemmKernel}.</li>
 *   <li>{@link #requantize}: y[m, n] = act(aScale * wScale[n] * (C[m, n] - aZero * wRowSum[n]) + bias[n]),
 *       i.e. the real-valued result of (A - aZero) x W^T with symmetric per-channel weights, as
 *       float32, or re-quantized to int8 with (outScale, outZero).</li>
 * </ul>
 * {@link #matmulTReference} and {@link #requantizeReference} are the plain scalar definitions the
 * fast paths are tested against.
 */
public final class Int8Gemm {
    private Int8Gemm() {}

    /**
     * B [N, K] packed once for the kernel chosen at packing time: for {@link Int8VnniKernel}
     * (blocks of 16 columns, K in groups of 4, b + 128 as unsigned bytes) when it is enabled, else
     * for {@link Int8GemmKernel} (columns in blocks of {@code lanes}, K in pairs, b + 128 in 16-bit
     * lanes). Padding holds b = 0. The VNNI packing lives off the heap; {@link #close} frees it (a
     * packing kept with a weight's storage is closed with it; one dropped unclosed is freed by the
     * tensor memory's Cleaner once unreachable).
     */
    public static final class PackedInt8 implements AutoCloseable {
        private final int n, k, lanes, pairs;
        private final short[] data;
        private final dev.kiln.backend.cpu.WeightSlab.Piece vnniMemory;
        private final MemorySegment vnni;
        private final int[] rowSum;

        private PackedInt8(int n, int k, int lanes, short[] data, dev.kiln.backend.cpu.WeightSlab.Piece vnniMemory, int[] rowSum) {
            this.n = n;
            this.k = k;
            this.lanes = lanes;
            this.pairs = (k + 1) / 2;
            this.data = data;
            this.vnniMemory = vnniMemory;
            this.vnni = vnniMemory == null ? null : vnniMemory.segment();
            this.rowSum = rowSum;
        }

        /** Frees the off-heap VNNI packing (idempotent); the packing must not be used afterwards. */
        @Override public void close() { if (vnniMemory != null) vnniMemory.close(); }

        /** Rows of B (output columns). */
        public int n() { return n; }
        /** The reduction length. */
        public int k() { return k; }
        /** Sum of each row of B's int8 values (N entries; a copy). */
        public int[] rowSums() { return rowSum.clone(); }
        /** Which kernel this packing feeds: "vnni" or "vector". */
        public String kernel() { return vnni != null ? "vnni" : "vector"; }

        int lanes() { return lanes; }
        int pairs() { return pairs; }
        int blocks() { return (n + lanes - 1) / lanes; }
        short[] data() { return data; }
        int[] rowSumRef() { return rowSum; }
        /** Columns of the padded result of {@link #matmulTPadded}: N rounded up to whole kernel blocks. */
        public int paddedN() { return blocks() * lanes; }
    }

    /**
     * Packs B [N, K] (I8) once for repeated {@link #matmulT(Tensor, PackedInt8)} calls, for the
     * native VNNI kernel when it is enabled, else for the Vector API kernel.
     */
    public static PackedInt8 pack(Tensor b) {
        if (b.dtype() != DType.I8 || b.dim() != 2)
            throw new IllegalArgumentException("int8 gemm: B must be I8 [N, K], got " + b.dtype() + " " + Shape.str(b.shape()));
        int n = b.size(0), k = b.size(1);
        byte[] bv = bytes(b);
        int[] rowSum = new int[n];
        for (int j = 0; j < n; j++) {
            int s = 0;
            for (int p = 0; p < k; p++) s += bv[j * k + p];
            rowSum[j] = s;
        }
        if (Int8VnniKernel.enabled())
            return new PackedInt8(n, k, Int8VnniKernel.LANES, null, Int8VnniKernel.packB(bv, n, k), rowSum);
        int lanes = Int8GemmKernel.intSpecies().length();
        int kh = (k + 1) / 2, blocks = (n + lanes - 1) / lanes;
        short[] data = new short[Math.toIntExact((long) blocks * kh * 2 * lanes)];
        java.util.Arrays.fill(data, (short) 128);
        for (int j = 0; j < n; j++) {
            int base = (j / lanes) * kh * 2 * lanes + 2 * (j % lanes);
            for (int p = 0; p < k; p++)
                data[base + (p >> 1) * 2 * lanes + (p & 1)] = (short) (bv[j * k + p] + 128);
        }
        return new PackedInt8(n, k, lanes, data, null, rowSum);
    }

    /** Which int8 GEMM kernel {@link #pack} targets now, with the reason when VNNI is not used. */
    public static String kernelDescription() { return Int8VnniKernel.describe(); }

    /** C = A B^T over int8, exact in int32. A is [M, K], B is [N, K]; both I8. */
    public static Tensor matmulT(Tensor a, Tensor b) {
        check(a, b);
        try (PackedInt8 packed = pack(b)) {
            return matmulT(a, packed);
        }
    }

    /** C = A B^T with B packed by {@link #pack}; exact in int32. */
    public static Tensor matmulT(Tensor a, PackedInt8 b) {
        if (a.dtype() != DType.I8 || a.dim() != 2 || a.size(1) != b.k())
            throw new IllegalArgumentException("int8 gemm: need I8 A [M, " + b.k() + "], got " + a.dtype() + " " + Shape.str(a.shape()));
        int m = a.size(0);
        return Tensor.fromArray(matmulT(bytes(a), m, b.k(), b), m, b.n());
    }

    /**
     * C [M, N] = A [M, K] B^T over int8 with A given as row-major bytes (the first m * k entries of
     * {@code a}), exact in int32, returned row-major. No tensor copies: the array the kernel
     * accumulates into is returned as is when N is a whole number of kernel blocks.
     */
    public static int[] matmulT(byte[] a, int m, int k, PackedInt8 b) {
        if (k != b.k() || m < 0 || (long) m * k > a.length)
            throw new IllegalArgumentException("int8 gemm: need A [" + m + ", " + b.k() + "] in " + a.length + " bytes, got K = " + k);
        int n = b.n(), nPad = b.blocks() * b.lanes();
        int[] cPad = accumulate(a, m, b, null);
        if (n == nPad) return cPad;
        int[] c = new int[Math.toIntExact((long) m * n)];
        for (int i = 0; i < m; i++) System.arraycopy(cPad, i * nPad, c, i * n, n);
        return c;
    }

    /**
     * C [M, {@link PackedInt8#paddedN}] = A [M, K] B^T, exact, row stride paddedN (the columns past N
     * are not meaningful). The VNNI kernel writes into {@code scratch} when it is large enough (the
     * result is then scratch itself, valid until the caller reuses it); null: a new array.
     */
    public static int[] matmulTPadded(byte[] a, int m, int k, PackedInt8 b, int[] scratch) {
        return matmulTPadded(a, m, k, b, scratch, null);
    }

    /**
     * What to do with a finished block of C: rows [r0, r0 + rows) and columns [c0, c0 + cols) of
     * the padded result (cols may reach past N into the padding), element (r0 + i, c0 + j) at
     * c[off + i * ldc + j]; run on the thread that computed it while the block is in its cache
     * (e.g. dequantize it). c is valid during the call only (the VNNI kernel reuses a per-thread
     * tile buffer).
     */
    @FunctionalInterface
    public interface Epilogue {
        void block(int[] c, int off, int ldc, int r0, int rows, int c0, int cols);
    }

    /**
     * The same, calling {@code epilogue} (when not null) once for each block of C as soon as it is
     * complete (the VNNI kernel: per tile, on its thread, from a tile buffer that stays in that
     * core's cache: C is then never written out whole, and the result is null; the Vector API
     * kernel: once for the whole C). Every element of C is covered by exactly one call.
     */
    public static int[] matmulTPadded(byte[] a, int m, int k, PackedInt8 b, int[] scratch, Epilogue epilogue) {
        if (k != b.k() || m < 0 || (long) m * k > a.length)
            throw new IllegalArgumentException("int8 gemm: need A [" + m + ", " + b.k() + "] in " + a.length + " bytes, got K = " + k);
        if (b.vnni != null) return Int8VnniKernel.run(a, m, b.k(), b.vnni, b.blocks(), scratch, epilogue);
        int[] c = accumulate(a, m, b, scratch);
        if (epilogue != null && m > 0) epilogue.block(c, 0, b.blocks() * b.lanes(), 0, m, 0, b.blocks() * b.lanes());
        return c;
    }

    /** Whether {@link #quantizeRange} and {@link #quantizeRows} are available (the native VNNI library is in use). */
    public static boolean nativeQuantize() { return Int8VnniKernel.enabled(); }

    /**
     * DynamicQuantizeLinear's range over n floats of native x at byte offset off: {min(0, min x),
     * max(0, max x)}, NaN for both when x holds a NaN. Only where {@link #nativeQuantize()}.
     */
    public static float[] quantizeRange(MemorySegment x, long off, long n) { return Int8VnniKernel.range(x, off, n); }

    /**
     * Rows [r0, r1) of native x ([m, k] at byte offset off) as int8 a' = clamp(rint(x / scale) + shift,
     * -128, 127) (float operations; NaN gives 0) into out (row stride k), each row's sum of a' into
     * rowSum[r]. Only where {@link #nativeQuantize()}.
     */
    public static void quantizeRows(MemorySegment x, long off, int k, int r0, int r1, float scale, float shift, byte[] out, int[] rowSum) {
        Int8VnniKernel.quantizeRows(x, off, k, r0, r1, scale, shift, out, rowSum);
    }

    /** C [M, nPad] (row stride: whole kernel blocks; only the first N columns are meaningful). */
    private static int[] accumulate(byte[] a, int m, PackedInt8 b, int[] scratch) {
        if (b.vnni != null) return Int8VnniKernel.run(a, m, b.k(), b.vnni, b.blocks(), scratch, null);
        int k = b.k(), kh = b.pairs(), n = b.n(), nPad = b.blocks() * b.lanes();
        int[] ap = new int[Math.toIntExact((long) m * kh)], rowSumA = new int[m];
        packPairs(a, m, k, ap, rowSumA);
        int[] cPad = new int[Math.toIntExact((long) m * nPad)];
        Int8GemmKernel.run(ap, m, b, cPad);
        // remove the +128 offsets: sum(a b) = sum(a' b') - 128 (sum a + sum b) - 16384 Kp
        int[] rowSumB = b.rowSumRef(), colFix = new int[n];
        int bias = 16384 * 2 * kh;
        for (int j = 0; j < n; j++) colFix[j] = 128 * rowSumB[j] + bias;
        for (int i = 0; i < m; i++) {
            int rowFix = 128 * rowSumA[i], o = i * nPad;
            for (int j = 0; j < n; j++) cPad[o + j] -= rowFix + colFix[j];
        }
        return cPad;
    }

    /** A [m, k] as offset 16-bit pairs along K (see {@link Int8GemmKernel}), and each row's sum. */
    private static void packPairs(byte[] a, int m, int k, int[] ap, int[] rowSumA) {
        int kh = (k + 1) / 2, full = k / 2;
        for (int i = 0; i < m; i++) {
            int s = 0, src = i * k, dst = i * kh;
            for (int q = 0; q < full; q++, src += 2) {
                int lo = a[src], hi = a[src + 1];
                s += lo + hi;
                ap[dst + q] = (lo + 128) | ((hi + 128) << 16);
            }
            if (full < kh) {
                int lo = a[src];
                s += lo;
                ap[dst + full] = (lo + 128) | (128 << 16);
            }
            rowSumA[i] = s;
        }
    }

    /** The scalar definition of {@link #matmulT}: C = A B^T over int8, exact in int32. */
    public static Tensor matmulTReference(Tensor a, Tensor b) {
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
        checkEpilogue(acc, wScale, wRowSum, bias);
        int m = acc.size(0), n = acc.size(1);
        int[] c = acc.toIntArray();
        if (outScale == 0) return Tensor.fromArray(requantizeFloat(c, m, n, aScale, aZero, wScale, wRowSum, bias, relu), m, n);
        float[] scale = new float[n], add = new float[n];
        int[] zeroSum = new int[n];
        epilogueConstants(aScale, aZero, wScale, wRowSum, bias, scale, zeroSum, add);
        byte[] q = new byte[m * n];
        for (int i = 0, o = 0; i < m; i++)
            for (int j = 0; j < n; j++, o++) {
                float v = scale[j] * (c[o] - zeroSum[j]) + add[j];
                if (relu) v = Math.max(v, 0);
                q[o] = (byte) Math.max(-128, Math.min(127, Math.rint(v / outScale) + outZero));
            }
        Tensor out = Tensor.zeros(DType.I8, m, n);
        MemorySegment.copy(q, 0, out.segment(), ValueLayout.JAVA_BYTE, out.offset(), q.length);
        return out;
    }

    /**
     * The float epilogue of {@link #requantize} over a row-major accumulator array c [m, n] (as
     * {@link #matmulT(byte[], int, int, PackedInt8)} returns it); same arithmetic, so same bits.
     */
    static float[] requantizeFloat(int[] c, int m, int n, float aScale, int aZero, float[] wScale, int[] wRowSum, float[] bias,
                                   boolean relu) {
        float[] scale = new float[n], add = new float[n];
        int[] zeroSum = new int[n];
        epilogueConstants(aScale, aZero, wScale, wRowSum, bias, scale, zeroSum, add);
        float[] y = new float[m * n];
        for (int i = 0, o = 0; i < m; i++)
            for (int j = 0; j < n; j++, o++) {
                float v = scale[j] * (c[o] - zeroSum[j]) + add[j];
                y[o] = relu ? Math.max(v, 0) : v;
            }
        return y;
    }

    /** Per-column constants of the epilogue: scale = aScale wScale, zeroSum = aZero wRowSum, add = bias. */
    static void epilogueConstants(float aScale, int aZero, float[] wScale, int[] wRowSum, float[] bias,
                                  float[] scale, int[] zeroSum, float[] add) {
        for (int j = 0; j < scale.length; j++) {
            scale[j] = aScale * wScale[j];
            zeroSum[j] = aZero * wRowSum[j];
            add[j] = bias == null ? 0 : bias[j];
        }
    }

    /** The scalar definition of {@link #requantize}. */
    static Tensor requantizeReference(Tensor acc, float aScale, int aZero, float[] wScale, int[] wRowSum, float[] bias,
                                      boolean relu, float outScale, int outZero) {
        checkEpilogue(acc, wScale, wRowSum, bias);
        int m = acc.size(0), n = acc.size(1);
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

    private static void checkEpilogue(Tensor acc, float[] wScale, int[] wRowSum, float[] bias) {
        if (acc.dtype() != DType.I32 || acc.dim() != 2)
            throw new IllegalArgumentException("int8 requantize: accumulator must be I32 [M, N], got " + acc.dtype() + " " + Shape.str(acc.shape()));
        int n = acc.size(1);
        if (wScale.length != n || wRowSum.length != n || (bias != null && bias.length != n))
            throw new IllegalArgumentException("int8 requantize: per-channel arrays must have N = " + n + " entries");
    }

    private static void check(Tensor a, Tensor b) {
        if (a.dtype() != DType.I8 || b.dtype() != DType.I8 || a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1))
            throw new IllegalArgumentException("int8 gemm: need I8 A [M, K] and I8 B [N, K], got " + a.dtype() + " "
                    + Shape.str(a.shape()) + " and " + b.dtype() + " " + Shape.str(b.shape()));
    }

    /** The int8 values of a host I8 tensor, row-major. */
    private static byte[] bytes(Tensor t) {
        byte[] out = new byte[Math.toIntExact(t.numel())];
        try (Tensor c = t.contiguous()) {
            MemorySegment.copy(c.segment(), ValueLayout.JAVA_BYTE, c.offset(), out, 0, out.length);
        }
        return out;
    }
}
