package dev.kiln.backend.cpu;

import dev.kiln.backend.Backends;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * CpuGemm against a float64 triple-loop reference: odd and edge sizes (1, 7, 45x65x33, 1025,
 * sizes crossing the MC / KC / NC block boundaries), matrix-vector shapes (M = 1, N = 1), all
 * transpose combinations, alpha/beta variants (beta = 0 with a NaN-filled C), strided, sliced and
 * broadcast operands, batches, F64, the scalar twin (bitwise equal to the vector path), 2 threads
 * (bitwise equal to 1, on every parallel path) and the GemmTeam work-sharing protocol.
 * Tolerance: |got - ref| <= tol * (sum of |terms| of that element) + tol, tol 1e-5 (F32) / 1e-12 (F64).
 */
class GemmTest {
    private final Generator g = new Generator(42);

    @AfterEach
    void restore() {
        CpuConfig.setScalar(false);
        CpuConfig.setThreads(Runtime.getRuntime().availableProcessors());
    }

    // ------------------------------------------------------------------ reference

    /** op(x) of a rank-2 or rank-3 tensor as [batch][rows*cols] doubles (batch 1 broadcasts). */
    private static double[][] logical(Tensor x, boolean trans) {
        int r = x.dim(), batch = r == 3 ? x.size(0) : 1, rows = x.size(r - 2), cols = x.size(r - 1);
        double[] flat = x.toDoubleArray();
        double[][] out = new double[batch][rows * cols];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) {
                    double v = flat[b * rows * cols + i * cols + j];
                    if (trans) out[b][j * rows + i] = v;
                    else out[b][i * cols + j] = v;
                }
        return out;
    }

    /** Runs CpuGemm and compares every element with the float64 reference. */
    private static void checkAgainstReference(boolean ta, boolean tb, double alpha, Tensor a, Tensor b, double beta, Tensor c, double tol) {
        int m = c.size(-2), n = c.size(-1), batch = c.dim() == 3 ? c.size(0) : 1;
        int k = ta ? a.size(-2) : a.size(-1);
        double[][] la = logical(a, ta), lb = logical(b, tb);
        double[] c0 = c.toDoubleArray();
        CpuGemm.gemm(ta, tb, alpha, a, b, beta, c);
        double[] got = c.toDoubleArray();
        for (int bt = 0; bt < batch; bt++) {
            double[] ab = la[la.length == 1 ? 0 : bt], bb = lb[lb.length == 1 ? 0 : bt];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0, abs = 0;
                    for (int p = 0; p < k; p++) {
                        double term = ab[i * k + p] * bb[p * n + j];
                        s += term;
                        abs += Math.abs(term);
                    }
                    int idx = (bt * m + i) * n + j;
                    double ref = alpha * s, bound = Math.abs(alpha) * abs;
                    if (beta != 0) {
                        ref += beta * c0[idx];
                        bound += Math.abs(beta * c0[idx]);
                    }
                    if (!(Math.abs(got[idx] - ref) <= tol * bound + tol))
                        fail(String.format("batch %d (%d,%d) of [%d,%d]x[%d,%d] ta=%b tb=%b alpha=%s beta=%s: got %s want %s",
                                bt, i, j, m, k, k, n, ta, tb, alpha, beta, got[idx], ref));
                }
        }
    }

    private Tensor rand(DType dt, int... shape) {
        return Tensor.uniform(g, -2, 2, dt, shape);
    }

    private Tensor operand(DType dt, boolean trans, int rows, int cols) {
        return trans ? rand(dt, cols, rows) : rand(dt, rows, cols);
    }

    private static double tol(DType dt) {
        return dt == DType.F64 ? 1e-12 : 1e-5;
    }

    private void checkSize(DType dt, int m, int n, int k, boolean ta, boolean tb, double alpha, double beta) {
        Tensor a = operand(dt, ta, m, k), b = operand(dt, tb, k, n);
        Tensor c = beta == 0 ? Tensor.full(Double.NaN, dt, m, n) : rand(dt, m, n);
        checkAgainstReference(ta, tb, alpha, a, b, beta, c, tol(dt));
    }

    // ------------------------------------------------------------------ sizes, transposes, alpha/beta

    @Test
    void sizesIncludingEdgesAndBlockBoundaries() {
        int[][] sizes = {{1, 1, 1}, {7, 7, 7}, {45, 65, 33}, {1, 65, 33}, {45, 1, 33}, {45, 65, 1},
                {1025, 9, 5}, {5, 1025, 9}, {9, 5, 1025}, {200, 70, 300}, {7, 4100, 5}, {13, 33, 17}};
        for (int[] s : sizes) checkSize(DType.F32, s[0], s[1], s[2], false, false, 1, 0);
    }

    @Test
    void allTransposeCombinations() {
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) {
                checkSize(DType.F32, 45, 65, 33, ta, tb, 1, 0);
                checkSize(DType.F32, 7, 1, 260, ta, tb, 1, 0);
            }
    }

    @Test
    void alphaBetaVariants() {
        double[][] ab = {{1, 0}, {2.5, 0}, {1, 1}, {-0.5, 1.5}, {0.25, -2}};
        for (double[] v : ab) checkSize(DType.F32, 45, 65, 33, false, true, v[0], v[1]);
    }

    @Test
    void betaZeroNeverReadsNanC() {
        Tensor a = rand(DType.F32, 13, 20), b = rand(DType.F32, 20, 35);
        Tensor c = Tensor.full(Double.NaN, DType.F32, 13, 35);
        CpuGemm.gemm(false, false, 1, a, b, 0, c);
        for (float v : c.toFloatArray()) assertTrue(Float.isFinite(v), "NaN from C leaked through beta = 0");
    }

    @Test
    void alphaZeroOrKZeroScalesC() {
        Tensor a = rand(DType.F32, 6, 0), b = rand(DType.F32, 0, 9);
        Tensor c = rand(DType.F32, 6, 9);
        float[] before = c.toFloatArray();
        CpuGemm.gemm(false, false, 1, a, b, 0.5, c);
        float[] after = c.toFloatArray();
        for (int i = 0; i < before.length; i++) assertEquals(0.5f * before[i], after[i]);
        Tensor nan = Tensor.full(Double.NaN, DType.F32, 6, 9);
        CpuGemm.gemm(false, false, 1, a, b, 0, nan);
        for (float v : nan.toFloatArray()) assertEquals(0f, v);
        checkSize(DType.F32, 20, 30, 10, false, false, 0, 2);
    }

    @Test
    void matrixVectorShapes() {
        for (DType dt : new DType[]{DType.F32, DType.F64})
            for (int n : new int[]{1, 7, 16, 63, 64, 65, 200})
                for (int k : new int[]{1, 33, 300}) {
                    checkSize(dt, 1, n, k, false, false, 1, 0);             // row vector x matrix
                    checkSize(dt, n, 1, k, false, false, 1, 0);             // matrix x column vector
                }
        checkSize(DType.F32, 1, 70, 40, false, false, -2, 0.5);
        checkSize(DType.F32, 70, 1, 40, false, false, -2, 0.5);
        checkSize(DType.F32, 1, 70, 40, true, true, 1, 0);                  // strided: the packed path
        checkSize(DType.F32, 70, 1, 40, true, true, 1, 0);
        Tensor col = rand(DType.F32, 40, 3).slice(1, 1, 2, 1);              // a strided column vector
        checkAgainstReference(false, false, 1, rand(DType.F32, 70, 40), col, 0, Tensor.zeros(70, 1), 1e-5);
        long saved = CpuGemm.parallelMinFmas;
        CpuGemm.parallelMinFmas = 0;
        try {
            CpuConfig.setThreads(2);
            checkSize(DType.F32, 100, 1, 50, false, false, 1, 0);
            checkSize(DType.F32, 1, 100, 50, false, false, 1, 0);
        } finally {
            CpuGemm.parallelMinFmas = saved;
        }
        Tensor a = rand(DType.F32, 1, 300), b = rand(DType.F32, 300, 70), c0 = rand(DType.F32, 1, 70);
        double[] vec = run(DType.F32, false, false, a, b, c0, 0.5);
        CpuConfig.setScalar(true);
        assertArrayEquals(vec, run(DType.F32, false, false, a, b, c0, 0.5), "row x matrix: scalar twin differs");
    }

    /**
     * The streamed matrix-vector kernels past one task: several column chunks (n > 1024, and > 4096) and K
     * parts (k > 512) with odd remainders, B row-major and transposed, beta != 0; the row case is
     * bitwise equal on 1 and 2 threads and to its scalar twin, every case matches the reference.
     */
    /** b's values in a read-only storage (as a model file's mapped weight), with b's shape and strides. */
    private static Tensor readOnly(Tensor b) {
        Tensor c = b.contiguous();
        java.lang.foreign.MemorySegment seg = java.lang.foreign.Arena.ofAuto().allocate(c.numel() * 4, 64);
        java.lang.foreign.MemorySegment.copy(c.segment(), c.offset() * 4, seg, 0, c.numel() * 4);
        return Tensor.of(dev.kiln.tensor.Storage.wrap(Backends.cpu(), seg.asReadOnly()), DType.F32, c.shape(), c.strides(), 0);
    }

    /**
     * Constant weights (read-only storage) take the pre-packed path: equal bit for bit to the
     * per-call path, on 1 and 2 threads, transposed or not, several K and N blocks, beta != 0,
     * the packed copy made once and reused; and the reference.
     */
    @Test
    void prepackedConstantWeightsMatchPerCallPacking() {
        long saved = CpuGemm.parallelMinFmas;
        CpuGemm.parallelMinFmas = 0;
        try {
            for (int[] s : new int[][]{{8, 300, 40}, {7, 1100, 2100}, {64, 70, 33}, {130, 45, 65}, {2, 5, 3}}) {
                int m = s[0], k = s[1], n = s[2];
                for (boolean tb : new boolean[]{false, true}) {
                    Tensor a = rand(DType.F32, m, k), b = tb ? rand(DType.F32, n, k) : rand(DType.F32, k, n), c0 = rand(DType.F32, m, n);
                    Tensor rb = readOnly(b);
                    CpuGemm.usePackedWeights = false;
                    double[] plain = run(DType.F32, false, tb, a, rb, c0, 0.5);
                    CpuGemm.usePackedWeights = true;
                    for (int threads : new int[]{1, 2, 1}) {
                        CpuConfig.setThreads(threads);
                        assertArrayEquals(plain, run(DType.F32, false, tb, a, rb, c0, 0.5), "packed m=" + m + " k=" + k + " n=" + n + " tb=" + tb + " t=" + threads);
                    }
                    checkAgainstReference(false, tb, 1, a, rb, 0, Tensor.zeros(m, n), 1e-5);
                }
            }
        } finally {
            CpuGemm.parallelMinFmas = saved;
            CpuGemm.usePackedWeights = true;
        }
    }

    /** A constant A (conv weights [out channels, C kh kw]) packed once: bitwise equal to per-call packing, 1 and 2 threads. */
    @Test
    void prepackedConstantAMatchesPerCallPacking() {
        long saved = CpuGemm.parallelMinFmas;
        CpuGemm.parallelMinFmas = 0;
        try {
            for (int[] s : new int[][]{{64, 1100, 49}, {130, 300, 196}, {7, 45, 65}, {512, 70, 9}}) {
                int m = s[0], k = s[1], n = s[2];
                Tensor a = readOnly(rand(DType.F32, m, k)), b = rand(DType.F32, k, n), c0 = rand(DType.F32, m, n);
                CpuGemm.usePackedWeights = false;
                double[] plain = run(DType.F32, false, false, a, b, c0, 0.5);
                CpuGemm.usePackedWeights = true;
                for (int threads : new int[]{1, 2}) {
                    CpuConfig.setThreads(threads);
                    assertArrayEquals(plain, run(DType.F32, false, false, a, b, c0, 0.5), "packed A m=" + m + " k=" + k + " n=" + n + " t=" + threads);
                }
                checkAgainstReference(false, false, 1, a, b, 0, Tensor.zeros(m, n), 1e-5);
            }
        } finally {
            CpuGemm.parallelMinFmas = saved;
            CpuGemm.usePackedWeights = true;
        }
    }

    /**
     * native/cpu/gemm_f32.c's panel step (where this JVM has it) gives the Vector API kernel's tiles
     * bit for bit: per-call packing and packed constant weights, both tile heights, partial row
     * tiles, narrow and partial column panels, several K blocks, beta != 0, 1 and 2 threads; and
     * the reference.
     */
    @Test
    void nativePanelMatchesVectorKernelBitwise() {
        long saved = CpuGemm.parallelMinFmas;
        CpuGemm.parallelMinFmas = 0;
        try {
            for (int[] s : new int[][]{{64, 768, 100}, {13, 1100, 70}, {130, 45, 97}, {8, 33, 48}, {6, 300, 31}}) {
                int m = s[0], k = s[1], n = s[2];
                for (boolean constant : new boolean[]{false, true}) {
                    Tensor a = rand(DType.F32, m, k), b = rand(DType.F32, k, n), c0 = rand(DType.F32, m, n);
                    Tensor bb = constant ? readOnly(b) : b;
                    for (int threads : new int[]{1, 2}) {
                        CpuConfig.setThreads(threads);
                        GemmF32Native.use = false;
                        double[] java = run(DType.F32, false, false, a, bb, c0, 0.5);
                        GemmF32Native.use = true;
                        assertArrayEquals(java, run(DType.F32, false, false, a, bb, c0, 0.5),
                                "native panel m=" + m + " k=" + k + " n=" + n + " constant=" + constant + " t=" + threads);
                    }
                    checkAgainstReference(false, false, 1, a, bb, 0, Tensor.zeros(m, n), 1e-5);
                }
            }
        } finally {
            CpuGemm.parallelMinFmas = saved;
            GemmF32Native.use = true;
        }
    }

    /**
     * native/cpu/gemm_f32.c's transposed-A pack (8 x 8 in-register transposes, element by element
     * at the edges) writes the Java gather's panels exactly: full and partial 8-row panels, 6-row
     * panels, K not a multiple of 8, a leading dim wider than the block, an offset into dst; and
     * a whole transposed-A product (dW = g^T x) with it equals the Vector API path bit for bit; the
     * same for B stored transposed (x W^T) and its panel packer.
     */
    @Test
    void nativeTransposedPackMatchesGather() {
        if (!GemmF32Native.available()) return;                   // nothing native to compare on this CPU
        long saved = CpuGemm.parallelMinFmas;
        CpuGemm.parallelMinFmas = 0;
        try {
            for (int[] s : new int[][]{{8, 8, 8}, {16, 33, 8}, {13, 9, 8}, {5, 100, 8}, {67, 17, 8}, {12, 40, 6}, {7, 3, 6}}) {
                int mc = s[0], kc = s[1], mr = s[2], ld = mc + 3, d0 = 5;
                Tensor t = rand(DType.F32, kc, ld);                   // a(r, k) = t[k, r]: A^T stored row-major
                GemmMatrix a = new GemmMatrix(t.storage().segment(), 1, 1, ld);
                assertTrue(GemmF32Native.packsTransposed(a, mc));
                int size = d0 + (mc + mr - 1) / mr * mr * kc;
                float[] nat = new float[size], gathered = new float[size];
                java.util.Arrays.fill(nat, Float.NaN);
                java.util.Arrays.fill(gathered, Float.NaN);
                GemmF32.packA(a, mc, kc, mr, nat, d0, new float[kc]);
                GemmF32Native.use = false;
                GemmF32.packA(a, mc, kc, mr, gathered, d0, new float[kc]);
                GemmF32Native.use = true;
                assertArrayEquals(gathered, nat, "transposed pack mc=" + mc + " kc=" + kc + " mr=" + mr);
            }
            for (int[] s : new int[][]{{8, 32}, {37, 32}, {64, 20}, {5, 3}}) {           // B^T panels: full, partial columns, short K
                int kc = s[0], n = s[1], ld = kc + 2;
                Tensor t = rand(DType.F32, n, ld);                    // b(k, j) = t[j, k]: W of x W^T
                GemmMatrix b = new GemmMatrix(t.storage().segment(), 1, 1, ld);
                assertTrue(GemmF32Native.packsTransposed(b, kc));
                float[] nat = new float[kc * GemmF32Kernel.NR], gathered = new float[kc * GemmF32Kernel.NR];
                GemmF32.packB(b, 0, 1, kc, n, nat, true);
                GemmF32Native.use = false;
                GemmF32.packB(b, 0, 1, kc, n, gathered, true);
                GemmF32Native.use = true;
                assertArrayEquals(gathered, nat, "transposed B panel kc=" + kc + " cols=" + n);
            }
            for (int[] s : new int[][]{{200, 130, 96}, {64, 1030, 40}, {9, 17, 300}}) {
                int m = s[0], k = s[1], n = s[2];
                Tensor a = rand(DType.F32, k, m), b = rand(DType.F32, k, n), c0 = rand(DType.F32, m, n);
                for (int threads : new int[]{1, 2}) {
                    CpuConfig.setThreads(threads);
                    GemmF32Native.use = false;
                    double[] java = run(DType.F32, true, false, a, b, c0, 0.5);
                    GemmF32Native.use = true;
                    assertArrayEquals(java, run(DType.F32, true, false, a, b, c0, 0.5), "transposed A m=" + m + " k=" + k + " n=" + n + " t=" + threads);
                    Tensor w = rand(DType.F32, n, k), x = rand(DType.F32, m, k);
                    GemmF32Native.use = false;
                    double[] javaNt = run(DType.F32, false, true, x, w, c0, 0.5);
                    GemmF32Native.use = true;
                    assertArrayEquals(javaNt, run(DType.F32, false, true, x, w, c0, 0.5), "transposed B m=" + m + " k=" + k + " n=" + n + " t=" + threads);
                }
                checkAgainstReference(true, false, 1, a, b, 0, Tensor.zeros(m, n), 1e-5);
                checkAgainstReference(false, true, 1, rand(DType.F32, m, k), rand(DType.F32, n, k), 0, Tensor.zeros(m, n), 1e-5);
            }
        } finally {
            CpuGemm.parallelMinFmas = saved;
            GemmF32Native.use = true;
        }
    }

    /** Row counts that pick the 8-row tile (8, 16, 64, 7) and the 6-row one (6, 12, 65) against the reference and the scalar twin. */
    @Test
    void bothTileHeights() {
        assertEquals(8, GemmF32Kernel.tileRows(8));
        assertEquals(8, GemmF32Kernel.tileRows(64));
        assertEquals(6, GemmF32Kernel.tileRows(12));
        assertEquals(GemmF32Native.active() ? 8 : 6, GemmF32Kernel.tileRows(200));
        GemmF32Native.use = false;
        assertEquals(6, GemmF32Kernel.tileRows(200));
        GemmF32Native.use = true;
        for (int m : new int[]{7, 8, 16, 64, 6, 12, 65}) {
            checkSize(DType.F32, m, 70, 45, false, false, 1, 0);
            checkSize(DType.F32, m, 33, 300, true, false, -1, 0.5);
            Tensor a = rand(DType.F32, m, 50), b = rand(DType.F32, 50, 40), c0 = rand(DType.F32, m, 40);
            double[] vec = run(DType.F32, false, false, a, b, c0, 0.5);
            CpuConfig.setScalar(true);
            assertArrayEquals(vec, run(DType.F32, false, false, a, b, c0, 0.5), "scalar twin, m=" + m);
            CpuConfig.setScalar(false);
        }
    }

    @Test
    void matrixVectorAcrossChunksAndKParts() {
        long saved = CpuGemm.gemvParallelMinFmas;
        CpuGemm.gemvParallelMinFmas = 0;
        try {
            for (int[] nk : new int[][]{{9000, 1300}, {4100, 517}, {77, 2049}, {5, 4}}) {
                int n = nk[0], k = nk[1];
                Tensor a = rand(DType.F32, 1, k), b = rand(DType.F32, k, n), c0 = rand(DType.F32, 1, n);
                CpuConfig.setThreads(1);
                double[] one = run(DType.F32, false, false, a, b, c0, 0.5);
                CpuConfig.setThreads(2);
                assertArrayEquals(one, run(DType.F32, false, false, a, b, c0, 0.5), "row x matrix, 2 threads, n=" + n + " k=" + k);
                CpuConfig.setScalar(true);
                assertArrayEquals(one, run(DType.F32, false, false, a, b, c0, 0.5), "row x matrix, scalar twin, n=" + n + " k=" + k);
                CpuConfig.setScalar(false);
                boolean nat = GemmF32Gemv.useNative;                          // the Vector API streamer too, where native ran
                GemmF32Gemv.useNative = false;
                try {
                    assertArrayEquals(one, run(DType.F32, false, false, a, b, c0, 0.5), "row x matrix, Vector API, n=" + n + " k=" + k);
                } finally {
                    GemmF32Gemv.useNative = nat;
                }
                checkAgainstReference(false, false, 1.25, a, b, 0.5, c0.clone(), 1e-5);
                // a model's constant weight takes the DRAM column cut: the same sums
                Tensor bc = b.clone();
                bc.storage().seal();
                assertArrayEquals(one, run(DType.F32, false, false, a, bc, c0, 0.5), "row x constant matrix, n=" + n + " k=" + k);
                Tensor bt = rand(DType.F32, n, k);                              // a Linear weight [N, K]
                checkAgainstReference(false, true, 1.25, a, bt, 0.5, c0.clone(), 1e-5);
                CpuConfig.setThreads(1);
                double[] dots = run(DType.F32, false, true, a, bt, c0, 0.5);
                CpuConfig.setThreads(2);
                assertArrayEquals(dots, run(DType.F32, false, true, a, bt, c0, 0.5), "dots, 2 threads, n=" + n + " k=" + k);
                GemmF32Gemv.useNative = false;                                  // the native dots (eight rows a pass) vs the Vector API's
                try {
                    assertArrayEquals(dots, run(DType.F32, false, true, a, bt, c0, 0.5), "dots, Vector API, n=" + n + " k=" + k);
                } finally {
                    GemmF32Gemv.useNative = nat;
                }
            }
        } finally {
            CpuGemm.gemvParallelMinFmas = saved;
        }
    }

    // ------------------------------------------------------------------ strided operands

    @Test
    void slicedAndTransposedViews() {
        Tensor bigA = rand(DType.F32, 100, 80), bigB = rand(DType.F32, 90, 120);
        Tensor a = bigA.slice(0, 3, 93, 2).slice(1, 1, 34, 1);     // [45,33], row stride 160
        Tensor b = bigB.slice(0, 5, 38, 1).slice(1, 0, 130, 2);    // [33,60], column stride 2
        checkAgainstReference(false, false, 1.5, a, b, 0, Tensor.zeros(45, 60), 1e-5);
        Tensor at = bigA.slice(1, 0, 45, 1).slice(0, 7, 40, 1).t(); // [45,33] view of a transposed block
        checkAgainstReference(false, false, 1, at, b, 0, Tensor.zeros(45, 60), 1e-5);
        // transA on a transposed view = plain row-major matrix read through swapped strides
        checkAgainstReference(true, true, 1, at.t(), b.t(), 0, Tensor.zeros(45, 60), 1e-5);
    }

    @Test
    void broadcastOperandsWithZeroStrides() {
        Tensor row = rand(DType.F32, 1, 33).expand(45, 33);         // every row equal, row stride 0
        Tensor col = rand(DType.F32, 33, 1).expand(33, 65);         // column stride 0
        checkAgainstReference(false, false, 1, row, col, 0, Tensor.zeros(45, 65), 1e-5);
    }

    // ------------------------------------------------------------------ batches

    @Test
    void batchedAndBroadcastBatch() {
        Tensor a = rand(DType.F32, 3, 45, 33), b = rand(DType.F32, 3, 33, 65);
        checkAgainstReference(false, false, 1, a, b, 0, Tensor.zeros(3, 45, 65), 1e-5);
        Tensor a1 = rand(DType.F32, 1, 45, 33).expand(4, 45, 33);  // batch stride 0
        Tensor bt = rand(DType.F32, 4, 65, 33);
        checkAgainstReference(false, true, 1, a1, bt, 0.5, rand(DType.F32, 4, 45, 65), 1e-5);
        Tensor a2 = rand(DType.F32, 33, 45);                        // rank-2 operand against a rank-3 c
        checkAgainstReference(true, false, 1, a2, rand(DType.F32, 2, 33, 65), 0, Tensor.zeros(2, 45, 65), 1e-5);
    }

    // ------------------------------------------------------------------ F64

    @Test
    void float64Path() {
        int[][] sizes = {{1, 1, 1}, {7, 7, 7}, {45, 65, 33}, {9, 5, 1025}, {200, 20, 300}};
        for (int[] s : sizes) checkSize(DType.F64, s[0], s[1], s[2], false, false, 1, 0);
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) checkSize(DType.F64, 45, 65, 33, ta, tb, -1.5, 0.5);
        Tensor a = rand(DType.F64, 2, 45, 33), b = rand(DType.F64, 1, 33, 65).expand(2, 33, 65);
        checkAgainstReference(false, false, 1, a, b, 0, Tensor.full(Double.NaN, DType.F64, 2, 45, 65), 1e-12);
    }

    // ------------------------------------------------------------------ scalar twin, threads

    private double[] run(DType dt, boolean ta, boolean tb, Tensor a, Tensor b, Tensor c0, double beta) {
        Tensor c = c0.clone();
        CpuGemm.gemm(ta, tb, 1.25, a, b, beta, c);
        return c.toDoubleArray();
    }

    @Test
    void scalarTwinMatchesVectorBitwiseAndReference() {
        for (DType dt : new DType[]{DType.F32, DType.F64})
            for (int[] s : new int[][]{{45, 65, 33}, {7, 1025, 3}, {13, 40, 300}}) {
                Tensor a = operand(dt, true, s[0], s[2]), b = operand(dt, false, s[2], s[1]), c0 = rand(dt, s[0], s[1]);
                double[] vec = run(dt, true, false, a, b, c0, 0.5);
                CpuConfig.setScalar(true);
                try {
                    assertArrayEquals(vec, run(dt, true, false, a, b, c0, 0.5), "scalar twin differs, " + dt);
                    checkAgainstReference(true, false, 1.25, a, b, 0.5, c0.clone(), tol(dt));
                } finally {
                    CpuConfig.setScalar(false);
                }
            }
    }

    @Test
    void twoThreadsMatchOneThreadBitwise() {
        long saved = CpuGemm.parallelMinFmas;
        CpuGemm.parallelMinFmas = 0;                    // small shapes take the parallel paths too
        try {
            // dynamic M blocks (m >= 48), a static N split (few rows), and a split over the batch
            int[][] shapes = {{150, 70, 40}, {61, 40, 300}, {10, 200, 20}, {20, 2, 20}};
            for (DType dt : new DType[]{DType.F32, DType.F64}) {
                for (int[] s : shapes) {
                    Tensor a = rand(dt, s[0], s[2]), b = rand(dt, s[2], s[1]), c0 = rand(dt, s[0], s[1]);
                    CpuConfig.setThreads(1);
                    double[] one = run(dt, false, false, a, b, c0, 1);
                    CpuConfig.setThreads(2);
                    assertArrayEquals(one, run(dt, false, false, a, b, c0, 1), "2 threads differ from 1, " + dt);
                    checkAgainstReference(false, false, 1, a, b, 0, Tensor.zeros(dt, s[0], s[1]), tol(dt));
                }
                Tensor at = rand(dt, 100, 50), bt = rand(dt, 60, 50), ct = rand(dt, 100, 60);   // transposed B: packed in parallel
                CpuConfig.setThreads(1);
                double[] seq = run(dt, false, true, at, bt, ct, 0.5);
                CpuConfig.setThreads(2);
                assertArrayEquals(seq, run(dt, false, true, at, bt, ct, 0.5), "transB, 2 threads differ, " + dt);
                checkAgainstReference(false, true, 1.25, at, bt, 0.5, ct.clone(), tol(dt));
                Tensor a = rand(dt, 4, 30, 20), b = rand(dt, 4, 20, 40), c0 = Tensor.zeros(dt, 4, 30, 40);
                CpuConfig.setThreads(1);
                double[] one = run(dt, false, true, a, b.transpose(1, 2).contiguous(), c0, 0);
                CpuConfig.setThreads(2);
                assertArrayEquals(one, run(dt, false, true, a, b.transpose(1, 2).contiguous(), c0, 0), "batched, 2 threads differ, " + dt);
                checkAgainstReference(false, false, 1, a, b, 0, Tensor.zeros(dt, 4, 30, 40), tol(dt));
            }
        } finally {
            CpuGemm.parallelMinFmas = saved;
        }
    }

    @Test
    void teamRunsEveryTaskOncePackingBeforeBlocks() {
        for (int threads : new int[]{1, 2, 3}) {
            AtomicIntegerArray packs = new AtomicIntegerArray(7);
            AtomicIntegerArray blocks = new AtomicIntegerArray(11);
            AtomicInteger packedSoFar = new AtomicInteger();
            AtomicInteger early = new AtomicInteger();
            GemmTeam.run(threads, 7, i -> { packs.incrementAndGet(i); packedSoFar.incrementAndGet(); },
                    11, i -> { blocks.incrementAndGet(i); if (packedSoFar.get() < 7) early.incrementAndGet(); });
            for (int i = 0; i < 7; i++) assertEquals(1, packs.get(i), "pack task " + i + ", threads " + threads);
            for (int i = 0; i < 11; i++) assertEquals(1, blocks.get(i), "block " + i + ", threads " + threads);
            assertEquals(0, early.get(), "a block ran before B was packed, threads " + threads);
        }
    }

    // ------------------------------------------------------------------ errors

    @Test
    void badShapesAndDtypesNameTheShapes() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.gemm(false, false, 1, Tensor.zeros(2, 3), Tensor.zeros(4, 5), 0, Tensor.zeros(2, 5)));
        assertTrue(e.getMessage().startsWith("gemm:") && e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.gemm(false, false, 1, Tensor.zeros(2, 3), Tensor.zeros(DType.F64, 3, 5), 0, Tensor.zeros(2, 5)));
        assertTrue(e.getMessage().contains("float64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.gemm(false, false, 1, Tensor.zeros(3, 2, 3), Tensor.zeros(2, 3, 5), 0, Tensor.zeros(3, 2, 5)));
        assertTrue(e.getMessage().contains("[2, 3, 5]"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.gemm(false, false, 1, Tensor.zeros(3), Tensor.zeros(3, 5), 0, Tensor.zeros(1, 5)));
    }
}
