package dev.kiln.backend.cpu;

import dev.kiln.ops.Conv;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** max/avg pool2d (vector and scalar paths) against hand-computed values and a float64 reference. */
class PoolTest {

    // ------------------------------------------------------------------ reference (PyTorch's rules, written out)

    static int outSize(int in, int k, int s, int pad, boolean ceil) {
        int out = (int) (ceil ? Math.ceil((in + 2.0 * pad - k) / s) : Math.floor((in + 2.0 * pad - k) / s)) + 1;
        if (ceil && (out - 1) * s >= in + pad) out--;
        return out;
    }

    /** Returns {values, indices} for MAX, {values} for AVG; x contiguous [n,c,h,w]. */
    static double[][] reference(PoolOp op, double[] x, int[] xs, Pool2dParams p) {
        int planes = xs[0] * xs[1], h = xs[2], w = xs[3];
        int oh = outSize(h, p.kernelH(), p.strideH(), p.padH(), p.ceilMode());
        int ow = outSize(w, p.kernelW(), p.strideW(), p.padW(), p.ceilMode());
        double[] out = new double[planes * oh * ow], idx = new double[out.length];
        for (int pl = 0; pl < planes; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    int y0 = i * p.strideH() - p.padH(), x0 = j * p.strideW() - p.padW();
                    double best = Double.NEGATIVE_INFINITY, sum = 0;
                    int at = -1, first = -1, inside = 0, padded = 0;
                    for (int y = y0; y < y0 + p.kernelH(); y++)
                        for (int xx = x0; xx < x0 + p.kernelW(); xx++) {
                            if (y < h + p.padH() && xx < w + p.padW()) padded++; // inside the padded input
                            if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                            double v = x[(pl * h + y) * w + xx];
                            inside++;
                            sum += v;
                            if (first < 0) first = y * w + xx;
                            if (v > best || Double.isNaN(v)) { // a NaN wins; a later NaN takes the index
                                best = v;
                                at = y * w + xx;
                            }
                        }
                    if (at < 0) at = first; // all -inf: the first position of the window
                    int o = (pl * oh + i) * ow + j;
                    out[o] = op == PoolOp.MAX ? best : sum / (p.countIncludePad() ? padded : inside);
                    idx[o] = at;
                }
        return op == PoolOp.MAX ? new double[][]{out, idx} : new double[][]{out};
    }

    static void assertClose(double[] ref, double[] got, double tol, String what) {
        assertEquals(ref.length, got.length, what + ": length");
        for (int i = 0; i < ref.length; i++) {
            if (ref[i] == got[i] || (Double.isNaN(ref[i]) && Double.isNaN(got[i]))) continue;
            if (!(Math.abs(ref[i] - got[i]) <= tol * (1 + Math.abs(ref[i]))))
                fail(what + ": element " + i + " expected " + ref[i] + " got " + got[i]);
        }
    }

    private static Pool2dParams params(int k, int s, int pad, boolean ceil, boolean includePad) {
        return new Pool2dParams(k, k, s, s, pad, pad, ceil, includePad);
    }

    /** Checks MAX (with and without indices) and AVG on the vector and scalar paths. */
    private static void check(Tensor x, Pool2dParams p, String what) {
        double tol = x.dtype() == DType.F64 ? 1e-12 : 1e-6;
        double[] xv = x.toDoubleArray();
        for (PoolOp op : PoolOp.values()) {
            double[][] ref = reference(op, xv, x.shape(), p);
            for (boolean scalar : new boolean[]{false, true}) {
                boolean old = CpuConfig.scalar();
                CpuConfig.setScalar(scalar);
                String tag = what + " " + op + " " + p + (scalar ? " [scalar]" : " [vector]");
                try (Tensor y = Conv.pool2d(op, x, p)) {
                    assertEquals(x.dtype(), y.dtype(), tag);
                    assertClose(ref[0], y.toDoubleArray(), tol, tag);
                    if (op == PoolOp.MAX) {
                        Tensor[] r = Conv.maxPool2dWithIndices(x, p);
                        try (Tensor v = r[0]; Tensor i = r[1]) {
                            assertEquals(DType.I64, i.dtype());
                            assertClose(ref[0], v.toDoubleArray(), tol, tag + " values");
                            assertArrayEquals(Arrays.stream(ref[1]).mapToLong(d -> (long) d).toArray(), i.toLongArray(), tag + " indices");
                        }
                    }
                } finally {
                    CpuConfig.setScalar(old);
                }
            }
        }
    }

    private static void random(long seed, DType t, int n, int c, int h, int w, Pool2dParams... ps) {
        try (Tensor x = Tensor.uniform(new Generator(seed), -2, 2, t, n, c, h, w)) {
            for (Pool2dParams p : ps) check(x, p, "pool " + Arrays.toString(x.shape()));
        }
    }

    /**
     * int8 max pooling (a quantized model's codes, {@code PoolI8}) against the float64 reference on
     * the same values: the vector 2x2 path (widths below, at and above a vector, odd sizes with the
     * last row and column dropped, the -128 and 127 extremes) and the windowed loop (padding, 3x3
     * stride 2, ceil mode, a strided view), each also on the scalar path. (With indices, and for AVG,
     * int8 input is pooled in float as before.)
     */
    @Test
    void int8MaxPoolMatchesTheReference() {
        java.util.Random r = new java.util.Random(31);
        int[][] shapes = {{2, 3, 28, 28}, {1, 2, 7, 7}, {3, 1, 14, 13}, {1, 1, 2, 130}, {2, 2, 65, 3}};
        Pool2dParams[] ps = {params(2, 2, 0, false, true), params(3, 2, 1, false, true), params(2, 1, 0, false, true), params(3, 2, 0, true, true)};
        for (int[] s : shapes) {
            double[] v = new double[s[0] * s[1] * s[2] * s[3]];
            for (int i = 0; i < v.length; i++) v[i] = i % 97 == 0 ? -128 : i % 89 == 0 ? 127 : r.nextInt(256) - 128;
            try (Tensor x = Tensor.fromDoubles(DType.I8, v, s)) {
                for (Pool2dParams p : ps) {
                    if (s[2] < p.kernelH() || s[3] < p.kernelW()) continue;
                    double[] want = reference(PoolOp.MAX, v, s, p)[0];
                    for (boolean scalar : new boolean[]{false, true}) {
                        boolean old = CpuConfig.scalar();
                        CpuConfig.setScalar(scalar);
                        try (Tensor y = Conv.pool2d(PoolOp.MAX, x, p)) {
                            assertEquals(DType.I8, y.dtype());
                            assertArrayEquals(want, y.toDoubleArray(), Arrays.toString(s) + " " + p + (scalar ? " [scalar]" : ""));
                        } finally {
                            CpuConfig.setScalar(old);
                        }
                    }
                }
            }
        }
        // a strided view (the planes transposed): the windowed loop reads strides
        double[] v = new double[2 * 3 * 6 * 8];
        for (int i = 0; i < v.length; i++) v[i] = r.nextInt(256) - 128;
        try (Tensor x = Tensor.fromDoubles(DType.I8, v, 2, 3, 6, 8); Tensor t = x.transpose(2, 3); Tensor tc = t.contiguous();
             Tensor y = Conv.pool2d(PoolOp.MAX, t, params(2, 2, 0, false, true))) {
            assertArrayEquals(reference(PoolOp.MAX, tc.toDoubleArray(), tc.shape(), params(2, 2, 0, false, true))[0], y.toDoubleArray());
        }
    }

    // ------------------------------------------------------------------ hand-computed

    @Test
    void handComputed2x2() {
        try (Tensor x = Tensor.arange(16).reshape(1, 1, 4, 4)) {
            for (boolean scalar : new boolean[]{false, true}) {
                boolean old = CpuConfig.scalar();
                CpuConfig.setScalar(scalar);
                try (Tensor m = x.maxPool2d(Pool2dParams.of(2, 2, 0)); Tensor a = x.avgPool2d(Pool2dParams.of(2, 2, 0))) {
                    assertArrayEquals(new double[]{5, 7, 13, 15}, m.toDoubleArray());
                    assertArrayEquals(new double[]{2.5, 4.5, 10.5, 12.5}, a.toDoubleArray());
                    Tensor[] r = Conv.maxPool2dWithIndices(x, Pool2dParams.of(2, 2, 0));
                    assertArrayEquals(new long[]{5, 7, 13, 15}, r[1].toLongArray());
                    r[0].close();
                    r[1].close();
                } finally {
                    CpuConfig.setScalar(old);
                }
            }
        }
    }

    @Test
    void handComputedCeilMode() {
        // x = [[0,1,2],[3,4,5],[6,7,8]], kernel 2 stride 2 ceil: windows clipped at the right and bottom
        Pool2dParams p = new Pool2dParams(2, 2, 2, 2, 0, 0, true, true);
        try (Tensor x = Tensor.arange(9).reshape(1, 1, 3, 3);
             Tensor m = x.maxPool2d(p); Tensor a = x.avgPool2d(p)) {
            assertArrayEquals(new int[]{1, 1, 2, 2}, m.shape());
            assertArrayEquals(new double[]{4, 5, 7, 8}, m.toDoubleArray());
            // divisors 4, 2, 2, 1: positions beyond the (unpadded) input never count
            assertArrayEquals(new double[]{2, 3.5, 6.5, 8}, a.toDoubleArray());
        }
    }

    @Test
    void handComputedPadding() {
        // x = [[1,2],[3,4]], kernel 2 stride 1 padding 1 -> 3x3
        try (Tensor x = Tensor.fromArray(new float[]{1, 2, 3, 4}, 1, 1, 2, 2);
             Tensor inc = x.avgPool2d(new Pool2dParams(2, 2, 1, 1, 1, 1, false, true));
             Tensor exc = x.avgPool2d(new Pool2dParams(2, 2, 1, 1, 1, 1, false, false));
             Tensor m = x.maxPool2d(new Pool2dParams(2, 2, 1, 1, 1, 1, false, true))) {
            assertArrayEquals(new double[]{0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1}, inc.toDoubleArray());
            assertArrayEquals(new double[]{1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}, exc.toDoubleArray());
            assertArrayEquals(new double[]{1, 2, 2, 3, 4, 4, 3, 4, 4}, m.toDoubleArray());
        }
    }

    @Test
    void nanPropagatesAndNegativeInfinity() {
        float nan = Float.NaN, ninf = Float.NEGATIVE_INFINITY;
        float[] v = new float[64];
        for (int i = 0; i < v.length; i++) v[i] = i % 7;
        v[9] = nan;       // row 0, col 9: window (0, 4)
        v[32 + 20] = nan; // row 1, col 20: window (0, 10)
        v[32 + 21] = nan; // same window: the last NaN wins the index
        v[2] = ninf; v[3] = ninf; v[34] = ninf; v[35] = ninf; // window (0, 1) all -inf
        try (Tensor x = Tensor.fromArray(v, 1, 1, 2, 32)) {
            for (boolean scalar : new boolean[]{false, true}) {
                boolean old = CpuConfig.scalar();
                CpuConfig.setScalar(scalar);
                try (Tensor m = x.maxPool2d(Pool2dParams.of(2, 2, 0))) {
                    double[] out = m.toDoubleArray();
                    assertTrue(Double.isNaN(out[4]) && Double.isNaN(out[10]), Arrays.toString(out));
                    assertEquals(Double.NEGATIVE_INFINITY, out[1]);
                    assertEquals(6, out[3]);
                    Tensor[] r = Conv.maxPool2dWithIndices(x, Pool2dParams.of(2, 2, 0));
                    long[] idx = r[1].toLongArray();
                    assertEquals(9, idx[4]);
                    assertEquals(32 + 21, idx[10]);
                    assertEquals(2, idx[1]); // all -inf: the first position of the window
                    r[0].close();
                    r[1].close();
                } finally {
                    CpuConfig.setScalar(old);
                }
            }
        }
    }

    @Test
    void outputSizes() {
        assertEquals(2, Conv.poolOutSize(5, 2, 2, 0, false));
        assertEquals(3, Conv.poolOutSize(5, 2, 2, 0, true));
        assertEquals(3, Conv.poolOutSize(6, 3, 2, 1, false));
        assertEquals(4, Conv.poolOutSize(6, 3, 2, 1, true));
        // ceil mode would give 4, but that window would start in the right padding
        assertEquals(3, Conv.poolOutSize(5, 2, 2, 1, true));
        for (int in = 1; in < 12; in++)
            for (int k = 1; k <= 4; k++)
                for (int s = 1; s <= 3; s++)
                    for (int pad = 0; pad <= k / 2; pad++)
                        for (boolean ceil : new boolean[]{false, true})
                            if (in + 2 * pad >= k)
                                assertEquals(outSize(in, k, s, pad, ceil), Conv.poolOutSize(in, k, s, pad, ceil),
                                        in + " " + k + " " + s + " " + pad + " " + ceil);
    }

    // ------------------------------------------------------------------ random vs reference

    @Test
    void kernel2Stride2() {
        Pool2dParams p = Pool2dParams.of(2, 2, 0), c = params(2, 2, 0, true, true), ce = params(2, 2, 0, true, false);
        random(1, DType.F32, 2, 3, 28, 28, p);
        random(2, DType.F32, 2, 3, 14, 14, p);
        random(8, DType.F32, 4, 16, 28, 30, p); // many row blocks of the streamed route, over threads
        random(3, DType.F32, 1, 2, 7, 9, p, c, ce);
        random(4, DType.F32, 1, 2, 33, 45, p, c, ce);
        random(5, DType.F32, 2, 2, 6, 64, p, c);
        random(7, DType.F32, 1, 3, 15, 17, p, c); // odd sizes: floor mode drops the last row and column
        random(6, DType.F32, 1, 1, 1, 1, params(1, 1, 0, false, true), params(1, 2, 0, true, true));
    }

    @Test
    void tiesAndNaNsPickPyTorchPositions() {
        // few distinct values: many ties inside windows (the earliest position in scan order wins),
        // NaNs (the last NaN wins) and -inf, on row widths below, at and above one vector
        Generator g = new Generator(7);
        for (int[] shape : new int[][]{{2, 3, 10, 36}, {1, 2, 14, 14}, {1, 2, 15, 15}, {1, 1, 6, 4}}) {
            float[] v = new float[(int) Arrays.stream(shape).asLongStream().reduce(1, (a, b) -> a * b)];
            for (int i = 0; i < v.length; i++) {
                int k = g.nextInt(10);
                v[i] = k < 1 ? Float.NaN : k < 2 ? Float.NEGATIVE_INFINITY : (float) g.nextInt(3);
            }
            try (Tensor x = Tensor.fromArray(v, shape)) {
                check(x, Pool2dParams.of(2, 2, 0), "ties");
                check(x, params(2, 2, 0, true, true), "ties ceil");
            }
        }
    }

    @Test
    void otherWindows() {
        random(10, DType.F32, 2, 3, 7, 9,
                params(3, 1, 0, false, true), params(3, 2, 1, false, true), params(3, 2, 1, false, false),
                params(3, 2, 1, true, true), params(3, 2, 1, true, false), params(2, 1, 1, false, false),
                params(2, 2, 1, true, true), params(2, 2, 1, true, false), params(3, 3, 0, true, true),
                new Pool2dParams(3, 2, 2, 1, 1, 0, true, false), new Pool2dParams(2, 3, 1, 2, 1, 1, false, true));
        random(11, DType.F32, 1, 2, 33, 45, params(3, 2, 1, false, true), params(2, 1, 0, false, true));
    }

    /** The separable F32 max pooling (no indices) gives the generic loop's bits: NaNs, -0/+0 ties, odd windows, ceil mode. */
    @Test
    void separableMaxMatchesGenericBitwise() {
        for (int[] shape : new int[][]{{2, 3, 13, 15}, {1, 2, 9, 70}, {1, 2, 112, 112}}) {
            float[] v = Tensor.randn(new Generator(4), shape).toFloatArray();
            for (int i = 0; i < v.length; i += 17) v[i] = (i / 17) % 3 == 0 ? Float.NaN : (i / 17) % 3 == 1 ? -0f : 0f;
            separableCase(Tensor.fromArray(v, shape));
        }
    }

    private static void separableCase(Tensor x) {
        for (Pool2dParams p : new Pool2dParams[]{params(3, 2, 1, false, true), params(3, 2, 1, true, true), params(3, 1, 1, false, true),
                new Pool2dParams(3, 2, 2, 1, 1, 0, true, false), params(5, 3, 2, false, true)}) {
            float[] fast = x.maxPool2d(p).toFloatArray();
            CpuConfig.setScalar(true);
            try {
                assertArrayEquals(x.maxPool2d(p).toFloatArray(), fast, p.toString());
            } finally {
                CpuConfig.setScalar(false);
            }
        }
    }

    @Test
    void float64() {
        random(20, DType.F64, 2, 3, 9, 34, Pool2dParams.of(2, 2, 0), params(3, 2, 1, true, false), params(2, 2, 0, true, true));
    }

    @Test
    void nonContiguousInputs() {
        Generator g = new Generator(30);
        try (Tensor nhwc = Tensor.uniform(g, -2, 2, DType.F32, 2, 20, 34, 3); Tensor x = nhwc.permute(0, 3, 1, 2)) {
            check(x, Pool2dParams.of(2, 2, 0), "nhwc");
            check(x, params(3, 2, 1, true, false), "nhwc");
        }
        try (Tensor big = Tensor.uniform(g, -2, 2, DType.F32, 2, 3, 20, 40); Tensor x = big.narrow(3, 3, 34).narrow(2, 1, 17)) {
            check(x, Pool2dParams.of(2, 2, 0), "slice");
            check(x, params(2, 2, 0, true, false), "slice ceil");
        }
    }

    @Test
    void unbatchedAndHalf() {
        try (Tensor x = Tensor.arange(16).reshape(1, 4, 4); Tensor m = x.maxPool2d(Pool2dParams.of(2, 2, 0))) {
            assertArrayEquals(new int[]{1, 2, 2}, m.shape());
            assertArrayEquals(new double[]{5, 7, 13, 15}, m.toDoubleArray());
        }
        try (Tensor x = Tensor.arange(16).reshape(1, 1, 4, 4); Tensor xb = x.to(DType.BF16);
             Tensor a = xb.avgPool2d(Pool2dParams.of(2, 2, 0))) {
            assertEquals(DType.BF16, a.dtype());
            assertArrayEquals(new double[]{2.5, 4.5, 10.5, 12.5}, a.toDoubleArray());
        }
    }

    // ------------------------------------------------------------------ errors

    private static String error(int[] shape, Pool2dParams p) {
        try (Tensor x = Tensor.zeros(shape)) {
            return assertThrows(IllegalArgumentException.class, () -> x.maxPool2d(p)).getMessage();
        }
    }

    @Test
    void badArguments() {
        String m = error(new int[]{1, 1, 4, 4}, Pool2dParams.of(2, 2, 2));
        assertTrue(m.startsWith("max_pool2d: padding (2,2) must be at most half the kernel size (2,2)"), m);
        m = error(new int[]{4, 4}, Pool2dParams.of(2, 2, 0));
        assertTrue(m.contains("[4, 4]"), m);
        m = error(new int[]{1, 1, 1, 4}, Pool2dParams.of(2, 2, 0));
        assertTrue(m.contains("too small") && m.contains("[1, 1, 1, 4]"), m);
        m = error(new int[]{1, 1, 4, 4}, Pool2dParams.of(2, 0, 0));
        assertTrue(m.contains("stride"), m);
        try (Tensor x = Tensor.zeros(1, 1, 4, 4)) {
            m = assertThrows(IllegalArgumentException.class, () -> x.avgPool2d(Pool2dParams.of(0, 1, 0))).getMessage();
            assertTrue(m.startsWith("avg_pool2d: kernel"), m);
        }
    }
}
