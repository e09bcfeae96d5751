package dev.kiln.backend.cpu;

import dev.kiln.ops.Conv;
import dev.kiln.ops.Conv2dParams;
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

/**
 * conv2d on every route (direct kernel, implicit GEMM, im2col + GEMM, scalar twin) against hand-computed values and
 * a float64 direct reference written here.
 */
class ConvTest {

    // ------------------------------------------------------------------ reference

    /** Direct float64 convolution over contiguous arrays: x [n,c,h,w], w [o,c/g,kh,kw]. */
    static double[] reference(double[] x, int[] xs, double[] w, int[] ws, double[] bias, Conv2dParams p) {
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], kh = ws[2], kw = ws[3], g = p.groups();
        int cg = c / g, og = o / g;
        int oh = (h + 2 * p.padH() - p.dilationH() * (kh - 1) - 1) / p.strideH() + 1;
        int ow = (wd + 2 * p.padW() - p.dilationW() * (kw - 1) - 1) / p.strideW() + 1;
        double[] out = new double[n * o * oh * ow];
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < o; oc++)
                for (int y = 0; y < oh; y++)
                    for (int xx = 0; xx < ow; xx++) {
                        double s = bias == null ? 0 : bias[oc];
                        for (int ic = 0; ic < cg; ic++)
                            for (int i = 0; i < kh; i++)
                                for (int j = 0; j < kw; j++) {
                                    int iy = y * p.strideH() - p.padH() + i * p.dilationH();
                                    int ix = xx * p.strideW() - p.padW() + j * p.dilationW();
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    int chan = (oc / og) * cg + ic;
                                    s += x[((b * c + chan) * h + iy) * wd + ix] * w[((oc * cg + ic) * kh + i) * kw + j];
                                }
                        out[((b * o + oc) * oh + y) * ow + xx] = s;
                    }
        return out;
    }

    static void assertClose(double[] ref, double[] got, double atol, double rtol, String what) {
        assertEquals(ref.length, got.length, what + ": length");
        for (int i = 0; i < ref.length; i++) {
            double tol = atol + rtol * Math.abs(ref[i]);
            if (!(Math.abs(ref[i] - got[i]) <= tol))
                fail(what + ": element " + i + " expected " + ref[i] + " got " + got[i]);
        }
    }

    private static Conv2dParams params(int stride, int pad, int dil, int groups) {
        return new Conv2dParams(stride, stride, pad, pad, dil, dil, groups);
    }

    /**
     * The kernel routes: default (the direct kernel for few taps, else the implicit GEMM), the
     * implicit GEMM forced on (1x1 convs included, and with a K block of 5 taps so that every conv
     * here spans several blocks), the direct kernel wherever it applies (stride 1), forced im2col
     * + GEMM, scalar twin; IMPLICIT_VECTOR: the implicit GEMM forced on with its Vector API unit loop
     * (IMPLICIT runs native/cpu/conv_implicit.c's where the library and AVX-512 are present).
     */
    enum Route { DEFAULT, IMPLICIT, IMPLICIT_VECTOR, DIRECT, IM2COL, SCALAR }

    static <T> T withRoute(Route r, java.util.function.Supplier<T> body) {
        boolean oldScalar = CpuConfig.scalar();
        int oldKc = ConvImplicit.KC, oldTaps = ConvDirect.maxTaps;
        String oldMode = ConvImplicit.mode;
        boolean oldNative = ConvImplicit.useNative;
        CpuConfig.setScalar(r == Route.SCALAR);
        if (r == Route.IMPLICIT_VECTOR) ConvImplicit.useNative = false;
        if (r == Route.IMPLICIT || r == Route.IMPLICIT_VECTOR) {
            ConvImplicit.mode = "always";
            ConvImplicit.KC = 5;
        }
        if (r == Route.IM2COL) {
            ConvImplicit.mode = "never";
            ConvDirect.maxTaps = 0;
        }
        if (r == Route.DIRECT) ConvDirect.maxTaps = Integer.MAX_VALUE;
        try {
            return body.get();
        } finally {
            CpuConfig.setScalar(oldScalar);
            ConvImplicit.mode = oldMode;
            ConvImplicit.useNative = oldNative;
            ConvImplicit.KC = oldKc;
            ConvDirect.maxTaps = oldTaps;
        }
    }

    /** Runs conv2d on every route and checks each against the reference. */
    private static void check(Tensor x, Tensor w, Tensor bias, Conv2dParams p, String what) {
        double[] ref = reference(x.toDoubleArray(), x.shape(), w.toDoubleArray(), w.shape(),
                bias == null ? null : bias.toDoubleArray(), p);
        double atol = x.dtype() == DType.F64 ? 1e-10 : 1e-4, rtol = x.dtype() == DType.F64 ? 1e-12 : 1e-5;
        for (Route r : Route.values()) {
            double[] got = withRoute(r, () -> {
                try (Tensor y = Conv.conv2d(x, w, bias, p)) {
                    assertEquals(x.dtype() == DType.F64 ? DType.F64 : DType.F32, y.dtype());
                    assertEquals(x.size(0), y.size(0));
                    assertEquals(w.size(0), y.size(1));
                    return y.toDoubleArray();
                }
            });
            assertClose(ref, got, atol, rtol, what + " [" + r + "]");
        }
    }

    private static Tensor rand(Generator g, DType t, int... shape) { return Tensor.uniform(g, -2, 2, t, shape); }

    private static void random(long seed, int n, int c, int h, int w, int o, int kh, int kw, Conv2dParams p,
                               boolean bias, DType t) {
        Generator g = new Generator(seed);
        try (Tensor x = rand(g, t, n, c, h, w); Tensor wt = rand(g, t, o, c / p.groups(), kh, kw);
             Tensor b = bias ? rand(g, t, o) : null) {
            check(x, wt, b, p, "conv " + Arrays.toString(new int[]{n, c, h, w}) + " w " + Arrays.toString(wt.shape()) + " " + p);
        }
    }

    // ------------------------------------------------------------------ hand-computed cases

    private static final float[] NINE = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    private static final float[] K2 = {1, 2, 3, 4};

    private static double[] run(Tensor x, Tensor w, Tensor b, Conv2dParams p, Route r) {
        return withRoute(r, () -> {
            try (Tensor y = Conv.conv2d(x, w, b, p)) {
                return y.toDoubleArray();
            }
        });
    }

    @Test
    void handComputedValid() {
        // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,2],[3,4]]: out[i,j] = x[i,j] + 2x[i,j+1] + 3x[i+1,j] + 4x[i+1,j+1]
        try (Tensor x = Tensor.fromArray(NINE, 1, 1, 3, 3); Tensor w = Tensor.fromArray(K2, 1, 1, 2, 2);
             Tensor b = Tensor.fromArray(new float[]{0.5f}, 1)) {
            for (Route r : Route.values()) {
                assertArrayEquals(new double[]{37, 47, 67, 77}, run(x, w, null, Conv2dParams.defaults(), r));
                assertArrayEquals(new double[]{37.5, 47.5, 67.5, 77.5}, run(x, w, b, Conv2dParams.defaults(), r));
            }
        }
    }

    @Test
    void handComputedPaddingStrideDilation() {
        try (Tensor x = Tensor.fromArray(NINE, 1, 1, 3, 3); Tensor w = Tensor.fromArray(K2, 1, 1, 2, 2)) {
            for (Route r : Route.values()) {
                // padding 1: 4x4 output; first row windows cover the padded row -1 and row 0
                double[] y = run(x, w, null, Conv2dParams.of(1, 1), r);
                assertEquals(16, y.length);
                assertEquals(4, y[0]);           // only x[0,0]*w[1,1]
                assertEquals(3 * 1 + 4 * 2, y[1]); // x[0,0]*w[1,0] + x[0,1]*w[1,1]
                assertEquals(37, y[5]);          // the interior matches the valid conv
                assertEquals(9 * 1, y[15]);      // only x[2,2]*w[0,0]
                // stride 2, padding 1: 2x2 output
                assertArrayEquals(new double[]{4, 3 * 2 + 4 * 3, 2 * 4 + 4 * 7, 77}, run(x, w, null, Conv2dParams.of(2, 1), r));
                // dilation 2: taps at x[0,0], x[0,2], x[2,0], x[2,2]
                assertArrayEquals(new double[]{1 + 2 * 3 + 3 * 7 + 4 * 9},
                        run(x, w, null, new Conv2dParams(1, 1, 0, 0, 2, 2, 1), r));
            }
        }
    }

    @Test
    void handComputedGroups() {
        // channel 0 all ones, channel 1 all twos; 1x1 weights 3 and 5
        float[] xv = {1, 1, 1, 1, 2, 2, 2, 2};
        try (Tensor x = Tensor.fromArray(xv, 1, 2, 2, 2); Tensor wg = Tensor.fromArray(new float[]{3, 5}, 2, 1, 1, 1);
             Tensor w1 = Tensor.fromArray(new float[]{3, 5}, 1, 2, 1, 1)) {
            for (Route r : Route.values()) {
                assertArrayEquals(new double[]{3, 3, 3, 3, 10, 10, 10, 10},
                        run(x, wg, null, new Conv2dParams(1, 1, 0, 0, 1, 1, 2), r));
                assertArrayEquals(new double[]{13, 13, 13, 13}, run(x, w1, null, Conv2dParams.defaults(), r));
                // the same 1x1 weights with padding 1 (im2col path): the border is 0
                double[] padded = run(x, w1, null, Conv2dParams.of(1, 1), r);
                assertArrayEquals(new double[]{0, 0, 0, 0, 0, 13, 13, 0, 0, 13, 13, 0, 0, 0, 0, 0}, padded);
            }
        }
    }

    // ------------------------------------------------------------------ random shapes vs reference

    @Test
    void oddShapes() {
        random(1, 2, 3, 7, 9, 5, 3, 3, params(1, 0, 1, 1), true, DType.F32);
        random(2, 2, 3, 7, 9, 5, 3, 3, params(1, 1, 1, 1), false, DType.F32);
        random(3, 3, 3, 7, 9, 5, 3, 3, params(2, 1, 1, 1), true, DType.F32);
        random(4, 1, 3, 7, 9, 5, 3, 2, params(2, 2, 1, 1), true, DType.F32);
        random(5, 2, 3, 9, 7, 5, 3, 3, params(1, 2, 2, 1), true, DType.F32);
        random(6, 1, 1, 1, 1, 1, 1, 1, params(1, 0, 1, 1), true, DType.F32);
        random(7, 1, 2, 1, 7, 3, 1, 3, params(1, 0, 1, 1), false, DType.F32);
    }

    @Test
    void kernelSizes() {
        random(10, 2, 3, 7, 9, 5, 5, 5, params(1, 2, 1, 1), true, DType.F32); // "same" 5x5
        random(11, 2, 3, 11, 12, 4, 5, 5, params(1, 0, 1, 1), false, DType.F32);
        random(12, 2, 3, 11, 12, 4, 5, 5, params(2, 1, 1, 1), true, DType.F32);
        random(13, 2, 3, 8, 9, 4, 1, 1, params(1, 0, 1, 1), true, DType.F32);  // pointwise, batched GEMM
        random(14, 1, 3, 8, 9, 4, 1, 1, params(1, 0, 1, 1), true, DType.F32);  // pointwise, one image
        random(15, 2, 3, 8, 9, 4, 1, 1, params(2, 0, 1, 1), true, DType.F32);  // 1x1 stride 2: im2col
        random(16, 2, 3, 8, 9, 4, 1, 1, params(1, 1, 1, 1), false, DType.F32); // 1x1 padded: im2col
        // 1x1 on output planes of up to ConvImplicit.SMALL_PLANE pixels (too many taps for the direct kernel)
        random(23, 2, 300, 7, 7, 37, 1, 1, params(1, 0, 1, 1), true, DType.F32);
        random(24, 1, 300, 13, 13, 21, 1, 1, params(2, 0, 1, 1), false, DType.F32);
        random(17, 2, 2, 6, 6, 3, 3, 1, new Conv2dParams(1, 2, 1, 0, 1, 1, 1), true, DType.F32); // asymmetric
        random(18, 2, 2, 9, 6, 3, 2, 3, new Conv2dParams(2, 1, 0, 1, 2, 1, 1), true, DType.F32);
        random(19, 1, 2, 5, 5, 2, 3, 3, params(1, 3, 1, 1), true, DType.F32);  // padding > kernel/2
    }

    /**
     * The implicit kernel's padded input buffer is reused between calls and only its border is
     * zeroed: a padded conv right after convs that filled the buffer with large values (no padding,
     * then a smaller padding) still matches the reference.
     */
    /**
     * Padding along W only (a 1-d conv lifted to 2-d has no H padding): the last row's right border
     * must stop at the end of the padded plane. It ran pw floats into the next plane, and past the
     * end of a freshly allocated (exactly sized) buffer: an ArrayIndexOutOfBoundsException that only
     * a first conv in the JVM met (NnConvTest run alone).
     */
    @Test
    void widthOnlyPaddingStaysInsideAFreshBuffer() {
        for (int pw : new int[]{1, 2}) {
            ConvImplicit.Buffers.take(1);                              // drop the kept buffer: the conv allocates one exactly
            Generator g = new Generator(40 + pw);
            try (Tensor x = rand(g, DType.F32, 2, 3, 1, 12); Tensor wt = rand(g, DType.F32, 4, 3, 1, 3); Tensor b = rand(g, DType.F32, 4)) {
                Conv2dParams p = new Conv2dParams(1, 2, 0, pw, 1, 2, 1);
                double[] ref = reference(x.toDoubleArray(), x.shape(), wt.toDoubleArray(), wt.shape(), b.toDoubleArray(), p);
                try (Tensor y = Conv.conv2d(x, wt, b, p)) {
                    assertClose(ref, y.toDoubleArray(), 1e-4, 1e-5, "1-d conv lifted to 2-d, pw=" + pw);
                }
            }
        }
    }

    @Test
    void paddedConvsAfterOthersSeeZeroBorders() {
        try (Tensor ones = Tensor.ones(DType.F32, 2, 40, 11, 11).mul(1e3f); Tensor w = Tensor.ones(DType.F32, 8, 40, 3, 3)) {
            Conv.conv2d(ones, w, null, params(1, 0, 1, 1)).close();
            Conv.conv2d(ones, w, null, params(1, 1, 1, 1)).close();
        }
        random(25, 2, 40, 9, 10, 8, 3, 3, params(1, 2, 1, 1), true, DType.F32);    // 40 x 9 taps: the implicit kernel
        random(26, 1, 40, 7, 7, 8, 5, 5, params(2, 2, 1, 1), false, DType.F32);
    }

    @Test
    void dilation() {
        random(20, 2, 3, 9, 11, 4, 3, 3, params(1, 2, 2, 1), true, DType.F32); // "same" dilated
        random(21, 2, 3, 9, 11, 4, 3, 3, params(1, 0, 2, 1), true, DType.F32);
        random(22, 2, 3, 9, 11, 4, 3, 3, params(2, 1, 2, 1), false, DType.F32);
    }

    @Test
    void groupsAndDepthwise() {
        random(30, 2, 4, 7, 9, 6, 3, 3, params(1, 1, 1, 2), true, DType.F32);
        random(31, 2, 4, 7, 9, 6, 3, 3, params(2, 0, 1, 2), false, DType.F32);
        random(32, 3, 6, 7, 9, 6, 3, 3, params(1, 1, 1, 6), true, DType.F32);  // depthwise
        random(33, 2, 6, 7, 9, 12, 3, 3, params(1, 1, 1, 6), true, DType.F32); // depthwise multiplier 2
        random(34, 2, 4, 7, 9, 6, 1, 1, params(1, 0, 1, 2), true, DType.F32);  // grouped pointwise
    }

    @Test
    void cnnShapes() {
        random(40, 3, 1, 28, 28, 16, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        random(41, 2, 16, 14, 14, 32, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        random(42, 1, 8, 45, 65, 4, 3, 3, params(1, 1, 1, 1), true, DType.F32);
    }

    @Test
    void implicitKernelEdges() {
        // output channels below one panel (5, 13)
        random(80, 2, 2, 9, 9, 5, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        random(81, 2, 2, 9, 9, 13, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        // planes of fewer pixels than a tile, and tiles spanning several output rows
        random(82, 2, 1, 6, 5, 8, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        random(83, 2, 1, 5, 16, 8, 3, 3, params(1, 1, 1, 1), false, DType.F32);
        random(84, 2, 1, 5, 17, 8, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        random(85, 1, 2, 3, 33, 16, 3, 3, params(1, 0, 1, 1), true, DType.F32); // one row of output
        // tap counts around K-block multiples (128*9 = 1152 = 9 blocks, 129*9 = 1161)
        random(86, 1, 128, 4, 5, 8, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        random(87, 1, 129, 4, 5, 8, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        // more images than threads, dilation and padding larger than the kernel
        random(88, 5, 3, 12, 10, 16, 3, 3, params(1, 2, 2, 1), true, DType.F32);
        random(89, 3, 2, 4, 4, 8, 3, 3, params(1, 3, 1, 1), true, DType.F32);
        // one image, several tiles
        random(90, 1, 3, 9, 11, 20, 3, 3, params(1, 1, 1, 1), true, DType.F32);
    }

    /**
     * The implicit GEMM's geometry: strides 2 and 3 (phase planes, some unused), unequal strides,
     * pads and dilations per axis, rectangular kernels, output channels around the panel width
     * (NR = 32 or 16), pixel counts that leave the last tile partial, several K blocks, rows a
     * multiple of seven wide (seven-pixel tiles).
     */
    @Test
    void implicitGemmGeometries() {
        int seed = 100;
        int[][] cases = { // N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw
                {2, 3, 23, 19, 5, 7, 7, 2, 2, 3, 3, 1, 1}, {1, 4, 12, 13, 33, 3, 3, 2, 2, 1, 1, 1, 1},
                {2, 2, 14, 11, 17, 3, 3, 3, 3, 1, 1, 1, 1}, {1, 3, 10, 15, 9, 3, 5, 1, 2, 1, 2, 1, 1},
                {2, 5, 13, 9, 70, 1, 7, 1, 1, 0, 3, 1, 1}, {1, 5, 9, 13, 16, 7, 1, 2, 1, 3, 0, 1, 1},
                {1, 3, 15, 15, 8, 3, 3, 2, 2, 2, 2, 2, 2}, {3, 2, 5, 5, 31, 3, 3, 2, 2, 0, 0, 1, 1},
                {1, 40, 9, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1}, {1, 6, 16, 16, 12, 1, 1, 2, 2, 0, 0, 1, 1},
                {1, 1, 1, 1, 3, 1, 1, 1, 1, 0, 0, 1, 1}, {2, 2, 6, 7, 4, 2, 2, 1, 1, 0, 0, 1, 1},
                // output rows a multiple of seven wide (seven-pixel tiles with 512-bit vectors), stride 1 and 2
                {2, 3, 7, 7, 33, 3, 3, 1, 1, 1, 1, 1, 1}, {1, 5, 14, 14, 40, 3, 3, 2, 2, 1, 1, 1, 1},
                {2, 2, 9, 16, 17, 3, 3, 1, 1, 1, 0, 1, 1}};
        for (int[] c : cases) {
            Conv2dParams p = new Conv2dParams(c[7], c[8], c[9], c[10], c[11], c[12], 1);
            random(seed++, c[0], c[1], c[2], c[3], c[4], c[5], c[6], p, seed % 2 == 0, DType.F32);
        }
    }

    /**
     * The native unit loop (native/cpu/conv_implicit.c) gives the Vector API kernels' bits: the same
     * fma chain per output from the same start. Six- and seven-pixel tiles, strides 1 and 2,
     * dilation, several K blocks (the default 128 taps and 5), partial panels, batches.
     */
    @Test
    void nativeUnitLoopIsBitwiseTheVectorKernels() {
        org.junit.jupiter.api.Assumptions.assumeTrue(ConvImplicit.hasNative(), "native conv unit not available on this machine");
        int[][] cases = { // N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw
                {1, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1}, {2, 16, 7, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1},
                {1, 8, 28, 28, 32, 3, 3, 2, 2, 1, 1, 1, 1}, {3, 3, 23, 19, 70, 7, 7, 2, 2, 3, 3, 1, 1},
                {1, 20, 9, 13, 33, 3, 3, 1, 1, 2, 2, 2, 2}, {2, 150, 6, 5, 17, 3, 3, 1, 1, 1, 1, 1, 1}};
        Generator g = new Generator(300);
        for (int[] c : cases) {
            Conv2dParams p = new Conv2dParams(c[7], c[8], c[9], c[10], c[11], c[12], 1);
            try (Tensor x = rand(g, DType.F32, c[0], c[1], c[2], c[3]); Tensor w = rand(g, DType.F32, c[4], c[1], c[5], c[6]);
                 Tensor b = rand(g, DType.F32, c[4])) {
                for (int kc : new int[]{128, 5}) {
                    java.util.function.Function<Boolean, float[]> run = nat -> {
                        int oldKc = ConvImplicit.KC;
                        boolean oldNative = ConvImplicit.useNative;
                        ConvImplicit.KC = kc;
                        ConvImplicit.useNative = nat;
                        try (Tensor y = Conv.conv2dRelu(x, w, b, p)) {
                            return y.toFloatArray();
                        } finally {
                            ConvImplicit.KC = oldKc;
                            ConvImplicit.useNative = oldNative;
                        }
                    };
                    assertArrayEquals(run.apply(false), run.apply(true), "native vs vector unit loop, " + Arrays.toString(c) + " KC " + kc);
                }
            }
        }
    }

    /** A constant (sealed) weight is packed once and reused: later calls with other inputs stay right. */
    @Test
    void implicitGemmReusesPackedConstantWeight() {
        Generator g = new Generator(7);
        Conv2dParams p = Conv2dParams.of(1, 1);
        try (Tensor w = rand(g, DType.F32, 40, 6, 3, 3); Tensor b = rand(g, DType.F32, 40)) {
            w.storage().seal();
            for (int i = 0; i < 3; i++)
                try (Tensor x = rand(g, DType.F32, 1 + i, 6, 10 + i, 9)) {
                    check(x, w, b, p, "sealed weight, call " + i);
                }
        }
    }

    @Test
    void float64() {
        random(50, 2, 3, 7, 9, 5, 3, 3, params(1, 1, 1, 1), true, DType.F64);
        random(51, 2, 4, 7, 9, 6, 3, 3, params(2, 2, 2, 2), true, DType.F64);
        random(52, 2, 3, 7, 9, 5, 1, 1, params(1, 0, 1, 1), false, DType.F64);
    }

    @Test
    void nonContiguousOperands() {
        Generator g = new Generator(60);
        // channels-last storage viewed as NCHW: the column stride is C, not 1
        try (Tensor nhwc = rand(g, DType.F32, 2, 7, 9, 3); Tensor x = nhwc.permute(0, 3, 1, 2);
             Tensor wohwc = rand(g, DType.F32, 5, 3, 3, 3); Tensor w = wohwc.permute(0, 3, 1, 2);
             Tensor b = rand(g, DType.F32, 5)) {
            assertTrue(!x.isContiguous() && !w.isContiguous());
            check(x, w, b, params(1, 1, 1, 1), "nhwc input");
            check(x, w, null, params(2, 0, 1, 1), "nhwc input stride 2");
        }
        // a column slice: rows are unit-stride but not adjacent (the same-padding fast path must not apply)
        try (Tensor big = rand(g, DType.F32, 2, 3, 7, 12); Tensor x = big.narrow(3, 2, 9);
             Tensor w = rand(g, DType.F32, 4, 3, 3, 3); Tensor w1 = rand(g, DType.F32, 4, 3, 1, 1)) {
            check(x, w, null, params(1, 1, 1, 1), "column slice");
            check(x, w1, null, params(1, 0, 1, 1), "column slice pointwise");
        }
        // a channel slice with a strided bias
        try (Tensor big = rand(g, DType.F32, 2, 6, 8, 8); Tensor x = big.slice(1, 0, 6, 2);
             Tensor w = rand(g, DType.F32, 4, 3, 3, 3); Tensor bb = rand(g, DType.F32, 8); Tensor b = bb.slice(0, 1, 8, 2);
             Tensor w1 = rand(g, DType.F32, 4, 3, 1, 1)) {
            check(x, w, b, params(1, 1, 1, 1), "channel slice");
            check(x, w1, b, params(1, 0, 1, 1), "channel slice pointwise");
        }
    }

    @Test
    void dtypesAndUnbatched() {
        try (Tensor xi = Tensor.fromArray(new int[]{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3);
             Tensor w = Tensor.fromArray(K2, 1, 1, 2, 2); Tensor y = Conv.conv2d(xi, w, null, null)) {
            assertEquals(DType.F32, y.dtype());
            assertArrayEquals(new double[]{37, 47, 67, 77}, y.toDoubleArray());
        }
        try (Tensor x = Tensor.fromArray(NINE, 1, 3, 3); Tensor w = Tensor.fromArray(K2, 1, 1, 2, 2);
             Tensor y = Conv.conv2d(x, w, null, Conv2dParams.defaults())) {
            assertArrayEquals(new int[]{1, 2, 2}, y.shape());
            assertArrayEquals(new double[]{37, 47, 67, 77}, y.toDoubleArray());
        }
        try (Tensor x = Tensor.fromArray(NINE, 1, 1, 3, 3); Tensor w = Tensor.fromDoubles(DType.F64, new double[]{1, 2, 3, 4}, 1, 1, 2, 2);
             Tensor y = Conv.conv2d(x, w, null, Conv2dParams.defaults())) {
            assertEquals(DType.F64, y.dtype());
            assertArrayEquals(new double[]{37, 47, 67, 77}, y.toDoubleArray());
        }
    }

    @Test
    void scratchBuffersAreReusedAcrossSizes() {
        // a large conv, then a small one, then the large again: a stale or too small buffer would show
        random(70, 2, 8, 20, 20, 4, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        random(71, 2, 2, 5, 5, 3, 3, 3, params(1, 1, 1, 1), true, DType.F32);
        random(72, 2, 8, 20, 20, 4, 3, 3, params(1, 1, 1, 1), true, DType.F64);
    }

    // ------------------------------------------------------------------ errors

    private static String error(int[] xs, int[] ws, int[] bs, Conv2dParams p) {
        try (Tensor x = Tensor.zeros(xs); Tensor w = Tensor.zeros(ws); Tensor b = bs == null ? null : Tensor.zeros(bs)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Conv.conv2d(x, w, b, p));
            return e.getMessage();
        }
    }

    @Test
    void badShapes() {
        String m = error(new int[]{1, 3, 5, 5}, new int[]{2, 4, 3, 3}, null, Conv2dParams.defaults());
        assertEquals("conv2d: input [1, 3, 5, 5] has 3 channels but weight [2, 4, 3, 3] expects 4 (groups=1)", m);
        m = error(new int[]{1, 4, 5, 5}, new int[]{2, 4, 3, 3}, null, new Conv2dParams(1, 1, 0, 0, 1, 1, 2));
        assertTrue(m.contains("expects 8 (groups=2)"), m);
        m = error(new int[]{1, 4, 5, 5}, new int[]{3, 2, 3, 3}, null, new Conv2dParams(1, 1, 0, 0, 1, 1, 2));
        assertTrue(m.contains("[3, 2, 3, 3]") && m.contains("groups=2"), m);
        m = error(new int[]{1, 3, 5, 5}, new int[]{2, 3, 3, 3}, new int[]{3}, Conv2dParams.defaults());
        assertTrue(m.contains("bias [3]") && m.contains("[2, 3, 3, 3]"), m);
        m = error(new int[]{1, 3, 2, 5}, new int[]{2, 3, 3, 3}, null, Conv2dParams.defaults());
        assertTrue(m.contains("smaller than the dilated kernel") && m.contains("[1, 3, 2, 5]"), m);
        m = error(new int[]{3, 5, 5}, new int[]{2, 3, 3}, null, Conv2dParams.defaults());
        assertTrue(m.startsWith("conv2d: weight must be"), m);
        m = error(new int[]{5, 5}, new int[]{2, 3, 3, 3}, null, Conv2dParams.defaults());
        assertTrue(m.startsWith("conv2d: input must be"), m);
        m = error(new int[]{1, 3, 5, 5}, new int[]{2, 3, 3, 3}, null, Conv2dParams.of(0, 0));
        assertTrue(m.contains("stride"), m);
        m = error(new int[]{1, 3, 5, 5}, new int[]{2, 3, 3, 3}, null, Conv2dParams.of(1, -1));
        assertTrue(m.contains("padding"), m);
    }

    /** conv2dRelu == relu(conv2d) on the implicit GEMM (tile and panel tails), 1x1 (im2col route) and the scalar twin. */
    @Test
    void fusedReluMatchesConvThenRelu() {
        Generator g = new Generator(41);
        int[][] cases = { // N, C, H, W, O, k, stride, pad
                {2, 1, 28, 28, 32, 3, 1, 1}, {2, 32, 14, 14, 64, 3, 1, 1}, {1, 3, 7, 9, 13, 3, 1, 1},
                {2, 4, 9, 40, 5, 3, 1, 0}, {2, 3, 11, 11, 6, 3, 2, 1}, {2, 8, 6, 6, 7, 1, 1, 0}};
        for (int[] c : cases)
            for (boolean scalar : new boolean[]{false, true}) {
                boolean old = CpuConfig.scalar();
                CpuConfig.setScalar(scalar);
                Conv2dParams p = Conv2dParams.of(c[6], c[7]);
                try (Tensor x = Tensor.uniform(g, -1, 1, DType.F32, c[0], c[1], c[2], c[3]);
                     Tensor w = Tensor.uniform(g, -1, 1, DType.F32, c[4], c[1], c[5], c[5]);
                     Tensor b = Tensor.uniform(g, -1, 1, DType.F32, c[4]);
                     Tensor ref0 = Conv.conv2d(x, w, b, p); Tensor ref = ref0.relu();
                     Tensor got = Conv.conv2dRelu(x, w, b, p)) {
                    assertArrayEquals(ref.shape(), got.shape());
                    assertArrayEquals(ref.toFloatArray(), got.toFloatArray(), Arrays.toString(c) + (scalar ? " scalar" : ""));
                } finally {
                    CpuConfig.setScalar(old);
                }
            }
    }
    /**
     * conv2dAdd == relu(conv2d + residual), bit for bit, on every route: the pixel-vector and implicit
     * kernels (the latter adding the residual as it stores), 1x1 single-image and batched GEMMs, im2col with groups, F64, the scalar twin; with and
     * without bias and ReLU, and with a residual that is a non-contiguous view.
     */
    @Test
    void residualEpilogueMatchesSeparateOps() {
        Generator g = new Generator(43);
        int[][] cases = { // N, C, H, W, O, k, stride, pad, groups
                {2, 1, 28, 28, 32, 3, 1, 1, 1}, {2, 32, 14, 14, 64, 3, 1, 1, 1}, {1, 3, 7, 9, 13, 3, 2, 1, 1},
                {1, 64, 14, 14, 40, 1, 1, 0, 1}, {3, 16, 7, 7, 33, 1, 1, 0, 1}, {2, 8, 9, 9, 12, 3, 1, 1, 2}, {2, 16, 8, 8, 24, 1, 2, 0, 1},
                {2, 300, 7, 7, 37, 1, 1, 0, 1}, {1, 40, 9, 9, 33, 3, 1, 1, 1}};   // the implicit kernel at stride 1: a small-plane 1x1, a 3x3 with many taps
        for (int[] c : cases)
            for (DType t : new DType[]{DType.F32, DType.F64})
                for (int variant = 0; variant < 8; variant++) {
                    boolean scalar = (variant & 1) != 0, relu = (variant & 2) != 0, bias = (variant & 4) != 0;
                    boolean old = CpuConfig.scalar();
                    CpuConfig.setScalar(scalar);
                    Conv2dParams p = new Conv2dParams(c[6], c[6], c[7], c[7], 1, 1, c[8]);
                    int oh = (c[2] + 2 * c[7] - c[5]) / c[6] + 1, ow = (c[3] + 2 * c[7] - c[5]) / c[6] + 1;
                    String what = Arrays.toString(c) + " " + t + (scalar ? " scalar" : "") + (relu ? " relu" : "") + (bias ? " bias" : "");
                    try (Tensor x = Tensor.uniform(g, -1, 1, t, c[0], c[1], c[2], c[3]);
                         Tensor w = Tensor.uniform(g, -1, 1, t, c[4], c[1] / c[8], c[5], c[5]);
                         Tensor b = bias ? Tensor.uniform(g, -1, 1, t, c[4]) : null;
                         Tensor rt = Tensor.uniform(g, -1, 1, t, c[0], c[4], ow, oh);
                         Tensor r = variant % 3 == 2 ? rt.transpose(2, 3) : rt.transpose(2, 3).contiguous();
                         Tensor y = Conv.conv2d(x, w, b, p); Tensor sum = y.add(r); Tensor rl = sum.relu();
                         Tensor got = Conv.conv2dAdd(x, w, b, p, r, relu)) {
                        Tensor ref = relu ? rl : sum;
                        assertArrayEquals(ref.shape(), got.shape(), what);
                        assertArrayEquals(ref.toDoubleArray(), got.toDoubleArray(), what);
                    } finally {
                        CpuConfig.setScalar(old);
                    }
                }
        try (Tensor x = Tensor.zeros(1, 4, 5, 5); Tensor w = Tensor.zeros(6, 4, 1, 1); Tensor r = Tensor.zeros(1, 6, 5, 1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Conv.conv2dAdd(x, w, null, Conv2dParams.defaults(), r, true));
            assertEquals("conv2d: residual [1, 6, 5, 1] must have the output's shape [1, 6, 5, 5]", e.getMessage());
        }
    }
}
