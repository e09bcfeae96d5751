package dev.kiln.backend.cpu;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.Backends;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * conv2d backward kernels (GEMM + col2im / im2col + GEMM paths and the scalar twins) against a float64
 * reference written from the definition (the adjoint of the forward: for each output position and
 * kernel tap, accumulate), plus finite-difference checks through the public autograd API.
 */
class ConvGradTest {
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    // ------------------------------------------------------------------ reference

    /**
     * Returns {gx, gw} for x [n,c,h,w], w [o,c/g,kh,kw], gy [n,o,oh,ow] (contiguous arrays): every
     * forward term y[n,o,oy,ox] += w[o,c,i,j] * x[n,ch,iy,ix] sends gy*w to gx and gy*x to gw.
     */
    static double[][] reference(double[] x, int[] xs, double[] w, int[] ws, double[] gy, Conv2dParams p) {
        int n = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], kh = ws[2], kw = ws[3], g = p.groups();
        int cg = c / g, og = o / g;
        int oh = (h + 2 * p.padH() - p.dilationH() * (kh - 1) - 1) / p.strideH() + 1;
        int ow = (wd + 2 * p.padW() - p.dilationW() * (kw - 1) - 1) / p.strideW() + 1;
        double[] gx = new double[x.length], gw = new double[w.length];
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < o; oc++)
                for (int y = 0; y < oh; y++)
                    for (int xx = 0; xx < ow; xx++) {
                        double gv = gy[((b * o + oc) * oh + y) * ow + xx];
                        for (int ic = 0; ic < cg; ic++)
                            for (int i = 0; i < kh; i++)
                                for (int j = 0; j < kw; j++) {
                                    int iy = y * p.strideH() - p.padH() + i * p.dilationH();
                                    int ix = xx * p.strideW() - p.padW() + j * p.dilationW();
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    int xi = ((b * c + (oc / og) * cg + ic) * h + iy) * wd + ix;
                                    int wi = ((oc * cg + ic) * kh + i) * kw + j;
                                    gx[xi] += gv * w[wi];
                                    gw[wi] += gv * x[xi];
                                }
                    }
        return new double[][]{gx, gw};
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

    private static int[] outShape(int[] xs, int[] ws, Conv2dParams p) {
        return dev.kiln.ops.Conv.conv2dShape(xs, ws, null, p);
    }

    private static Tensor rand(Generator g, DType t, int... shape) { return Tensor.uniform(g, -2, 2, t, shape); }

    /** Both kernels on one path (scalar or not), outputs pre-filled with NaN to check they are overwritten. */
    private static double[][] run(Tensor x, Tensor w, Tensor gy, Conv2dParams p, boolean scalar) {
        boolean old = CpuConfig.scalar();
        CpuConfig.setScalar(scalar);
        try (Tensor gx = Tensor.full(Double.NaN, x.dtype(), x.shape()); Tensor gw = Tensor.full(Double.NaN, w.dtype(), w.shape())) {
            Backends.cpu().conv2dBackwardInput(gy, w, p, gx);
            Backends.cpu().conv2dBackwardWeight(x, gy, p, gw);
            return new double[][]{gx.toDoubleArray(), gw.toDoubleArray()};
        } finally {
            CpuConfig.setScalar(old);
        }
    }

    /** Checks both gradients on the GEMM path and the scalar twin against the reference. */
    private static void check(Tensor x, Tensor w, Tensor gy, Conv2dParams p, String what) {
        double[][] ref = reference(x.toDoubleArray(), x.shape(), w.toDoubleArray(), w.shape(), gy.toDoubleArray(), p);
        boolean f64 = x.dtype() == DType.F64;
        double atol = f64 ? 1e-10 : 2e-4, rtol = f64 ? 1e-12 : 1e-5;
        for (boolean scalar : new boolean[]{false, true}) {
            double[][] got = run(x, w, gy, p, scalar);
            String tag = what + (scalar ? " [scalar]" : " [gemm]");
            assertClose(ref[0], got[0], atol, rtol, tag + " grad input");
            // gw sums over the batch and the output plane: scale atol with the number of terms
            double terms = (double) x.size(0) * gy.size(2) * gy.size(3);
            assertClose(ref[1], got[1], f64 ? 1e-10 * terms : 2e-6 * terms, rtol, tag + " grad weight");
        }
    }

    private static void random(long seed, int n, int c, int h, int w, int o, int kh, int kw, Conv2dParams p, DType t) {
        Generator g = new Generator(seed);
        int[] xs = {n, c, h, w}, ws = {o, c / p.groups(), kh, kw};
        try (Tensor x = rand(g, t, xs); Tensor wt = rand(g, t, ws); Tensor gy = rand(g, t, outShape(xs, ws, p))) {
            check(x, wt, gy, p, "x " + Arrays.toString(xs) + " w " + Arrays.toString(ws) + " " + p + " " + t);
        }
    }

    // ------------------------------------------------------------------ hand-computed

    @Test
    void handComputed() {
        // x 3x3 = 1..9, w 2x2 = [[1,2],[3,4]], valid conv: y 2x2. With gy = [[1,0],[0,0]] only y[0,0]
        // = x00*1 + x01*2 + x10*3 + x11*4 gets a gradient: gx = w in the top-left corner, gw = x[0:2,0:2].
        float[] nine = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        try (Tensor x = Tensor.fromArray(nine, 1, 1, 3, 3); Tensor w = Tensor.fromArray(new float[]{1, 2, 3, 4}, 1, 1, 2, 2);
             Tensor gy = Tensor.fromArray(new float[]{1, 0, 0, 0}, 1, 1, 2, 2);
             Tensor ones = Tensor.fromArray(new float[]{1, 1, 1, 1}, 1, 1, 2, 2)) {
            for (boolean scalar : new boolean[]{false, true}) {
                double[][] r = run(x, w, gy, Conv2dParams.defaults(), scalar);
                assertArrayEquals(new double[]{1, 2, 0, 3, 4, 0, 0, 0, 0}, r[0]);
                assertArrayEquals(new double[]{1, 2, 4, 5}, r[1]);
                // gy all ones: gx counts overlapping taps, gw[i,j] = sum of the 2x2 block at (i,j)
                r = run(x, w, ones, Conv2dParams.defaults(), scalar);
                assertArrayEquals(new double[]{1, 3, 2, 4, 10, 6, 3, 7, 4}, r[0]);
                assertArrayEquals(new double[]{12, 16, 24, 28}, r[1]);
            }
        }
    }

    // ------------------------------------------------------------------ random shapes vs the reference

    @Test
    void sameAndValid() {
        random(1, 2, 3, 7, 9, 5, 3, 3, params(1, 1, 1, 1), DType.F32);  // "same": flat col2im
        random(2, 3, 3, 7, 9, 5, 3, 3, params(1, 0, 1, 1), DType.F32);  // valid
        random(3, 1, 1, 1, 1, 1, 1, 1, params(1, 0, 1, 1), DType.F32);  // 1x1 image
        random(4, 1, 2, 1, 7, 3, 1, 3, params(1, 0, 1, 1), DType.F32);  // one row
        random(5, 2, 2, 45, 65, 3, 3, 3, params(1, 1, 1, 1), DType.F32); // long rows: full vectors
        random(6, 1, 2, 45, 65, 3, 3, 3, params(1, 0, 1, 1), DType.F64);
    }

    @Test
    void strideAndPadding() {
        random(10, 3, 3, 7, 9, 5, 3, 3, params(2, 1, 1, 1), DType.F32);
        random(11, 1, 3, 7, 9, 5, 3, 2, params(2, 2, 1, 1), DType.F32);
        random(12, 1, 2, 5, 5, 2, 3, 3, params(1, 3, 1, 1), DType.F32);  // padding > kernel/2
        random(13, 2, 2, 9, 8, 3, 2, 2, params(3, 0, 1, 1), DType.F32);  // stride > kernel: skipped pixels
        random(19, 2, 2, 9, 8, 9, 2, 2, params(1, 0, 1, 1), DType.F32);  // kg = 8, O = 9: both edges of the 4x3 grid
        random(14, 3, 3, 8, 9, 4, 3, 3, params(2, 1, 1, 1), DType.F64);
        // OW == W (flat path) but OH < H, and the reverse
        random(15, 2, 2, 7, 6, 3, 3, 3, new Conv2dParams(1, 1, 0, 1, 1, 1, 1), DType.F32);
        random(16, 2, 2, 7, 6, 3, 3, 3, new Conv2dParams(1, 1, 1, 0, 1, 1, 1), DType.F32);
        random(17, 2, 2, 6, 6, 3, 3, 1, new Conv2dParams(1, 2, 1, 0, 1, 1, 1), DType.F32); // asymmetric
        random(18, 2, 2, 9, 6, 3, 2, 3, new Conv2dParams(2, 1, 0, 1, 2, 1, 1), DType.F64);
    }

    @Test
    void dilation() {
        random(20, 2, 3, 9, 11, 4, 3, 3, params(1, 2, 2, 1), DType.F32); // "same" dilated: flat path
        random(21, 2, 3, 9, 11, 4, 3, 3, params(1, 0, 2, 1), DType.F32);
        random(22, 3, 3, 9, 11, 4, 3, 3, params(2, 1, 2, 1), DType.F64);
    }

    @Test
    void kernelSizes() {
        random(30, 2, 3, 11, 12, 4, 5, 5, params(1, 2, 1, 1), DType.F32); // "same" 5x5
        random(31, 1, 3, 11, 12, 4, 5, 5, params(2, 1, 1, 1), DType.F32);
        random(32, 3, 3, 11, 12, 4, 5, 5, params(1, 0, 1, 1), DType.F64);
        random(33, 3, 3, 8, 9, 4, 1, 1, params(1, 0, 1, 1), DType.F32);  // pointwise: batched GEMM
        random(34, 1, 3, 8, 9, 4, 1, 1, params(1, 0, 1, 1), DType.F64);  // pointwise, one image
        random(35, 2, 3, 8, 9, 4, 1, 1, params(2, 0, 1, 1), DType.F32);  // 1x1 stride 2: im2col/col2im
        random(36, 2, 3, 8, 9, 4, 1, 1, params(1, 1, 1, 1), DType.F32);  // 1x1 padded
        random(37, 2, 3, 8, 8, 5, 1, 1, params(1, 0, 1, 1), DType.F32);  // pointwise, 64 pixels: no row padding
        random(38, 2, 4, 4, 8, 6, 3, 3, params(1, 1, 1, 2), DType.F32);  // groups, 32 pixels
    }

    @Test
    void groupsAndDepthwise() {
        random(40, 2, 4, 7, 9, 6, 3, 3, params(1, 1, 1, 2), DType.F32);
        random(41, 3, 4, 7, 9, 6, 3, 3, params(2, 0, 1, 2), DType.F64);
        random(42, 3, 6, 7, 9, 6, 3, 3, params(1, 1, 1, 6), DType.F32);  // depthwise
        random(43, 1, 6, 7, 9, 12, 3, 3, params(1, 1, 1, 6), DType.F32); // depthwise, multiplier 2
        random(44, 2, 4, 7, 9, 6, 1, 1, params(1, 0, 1, 2), DType.F32);  // grouped pointwise
        random(45, 3, 4, 7, 9, 6, 5, 5, params(2, 2, 2, 2), DType.F64);  // groups, stride, dilation, 5x5
    }

    @Test
    void cnnLayersAndThreadSplits() {
        // the Fashion-MNIST CNN's two layers (small batch), with 1 and 3 threads: the weight
        // gradient's per-thread partial sums and their reduction
        int old = CpuConfig.threads();
        try {
            for (int threads : new int[]{1, 3}) {
                CpuConfig.setThreads(threads);
                random(50 + threads, 3, 1, 28, 28, 16, 3, 3, params(1, 1, 1, 1), DType.F32);
                random(54 + threads, 4, 16, 14, 14, 32, 3, 3, params(1, 1, 1, 1), DType.F32);
                random(58 + threads, 3, 4, 9, 9, 6, 3, 3, params(1, 1, 1, 1), DType.F64);
            }
        } finally {
            CpuConfig.setThreads(old);
        }
    }

    @Test
    void float32FallbackRoutes() {
        // the routes of F64 and of very large shapes, with F32 operands: the weight gradient's GEMM
        // route (threads split) and the input gradient's col2im on segments
        int old = CpuConfig.threads();
        ConvBackwardWeight.gemmOnly = true;
        ConvBackwardInput.segmentsOnly = true;
        try {
            for (int threads : new int[]{1, 3}) {
                CpuConfig.setThreads(threads);
                random(62 + threads, 3, 4, 9, 9, 6, 3, 3, params(1, 1, 1, 1), DType.F32);
                random(64 + threads, 3, 4, 7, 9, 6, 3, 3, params(2, 1, 1, 2), DType.F32);
                random(66 + threads, 3, 3, 8, 9, 4, 1, 1, params(1, 0, 1, 1), DType.F32);
            }
        } finally {
            ConvBackwardWeight.gemmOnly = false;
            ConvBackwardInput.segmentsOnly = false;
            CpuConfig.setThreads(old);
        }
    }

    @Test
    void stridedOperands() {
        Generator g = new Generator(60);
        Conv2dParams p = params(2, 1, 1, 1);
        // x as a transposed view, w as a permuted view, gy as a sliced view
        try (Tensor xt = rand(g, DType.F32, 2, 3, 9, 7); Tensor x = xt.transpose(2, 3);
             Tensor wp = rand(g, DType.F32, 3, 4, 3, 3); Tensor w = wp.permute(1, 0, 2, 3);
             Tensor gyWide = rand(g, DType.F32, 2, 4, 4, 10); Tensor gy = gyWide.narrow(3, 2, 5)) {
            assertTrue(!x.isContiguous() && !w.isContiguous() && !gy.isContiguous());
            check(x, w, gy, p, "strided operands");
        }
        // a transposed input to a pointwise conv: im2col instead of the input planes
        try (Tensor xt = rand(g, DType.F32, 2, 3, 8, 6); Tensor x = xt.transpose(2, 3);
             Tensor w = rand(g, DType.F32, 4, 3, 1, 1); Tensor gy = rand(g, DType.F32, 2, 4, 6, 8)) {
            check(x, w, gy, params(1, 0, 1, 1), "strided pointwise");
        }
        // non-contiguous outputs are filled through a temporary
        try (Tensor x = rand(g, DType.F64, 2, 3, 6, 5); Tensor w = rand(g, DType.F64, 4, 3, 3, 3);
             Tensor gy = rand(g, DType.F64, 2, 4, 6, 5);
             Tensor gxT = Tensor.full(Double.NaN, DType.F64, 2, 3, 5, 6); Tensor gx = gxT.transpose(2, 3);
             Tensor gwT = Tensor.full(Double.NaN, DType.F64, 3, 4, 3, 3); Tensor gw = gwT.permute(1, 0, 2, 3)) {
            Conv2dParams same = params(1, 1, 1, 1);
            Backends.cpu().conv2dBackwardInput(gy, w, same, gx);
            Backends.cpu().conv2dBackwardWeight(x, gy, same, gw);
            double[][] ref = reference(x.toDoubleArray(), x.shape(), w.toDoubleArray(), w.shape(), gy.toDoubleArray(), same);
            assertClose(ref[0], gx.toDoubleArray(), 1e-10, 1e-12, "strided grad input");
            assertClose(ref[1], gw.toDoubleArray(), 1e-9, 1e-12, "strided grad weight");
        }
    }

    @Test
    void mixedDtypesTakeTheScalarPath() {
        Generator g = new Generator(61);
        Conv2dParams p = params(1, 1, 1, 1);
        try (Tensor x = rand(g, DType.F32, 2, 2, 5, 6); Tensor w = rand(g, DType.F64, 3, 2, 3, 3);
             Tensor gy = rand(g, DType.F64, 2, 3, 5, 6); Tensor gx = Tensor.empty(Backends.cpu(), DType.F32, 2, 2, 5, 6);
             Tensor gw = Tensor.empty(Backends.cpu(), DType.F64, 3, 2, 3, 3)) {
            Backends.cpu().conv2dBackwardInput(gy, w, p, gx);
            Backends.cpu().conv2dBackwardWeight(x, gy, p, gw);
            double[][] ref = reference(x.toDoubleArray(), x.shape(), w.toDoubleArray(), w.shape(), gy.toDoubleArray(), p);
            assertClose(ref[0], gx.toDoubleArray(), 1e-5, 1e-6, "mixed grad input");
            assertClose(ref[1], gw.toDoubleArray(), 1e-9, 1e-9, "mixed grad weight");
        }
    }

    @Test
    void emptyBatchZeroesTheWeightGradient() {
        try (Tensor x = Tensor.zeros(DType.F32, 0, 2, 5, 5); Tensor gy = Tensor.zeros(DType.F32, 0, 3, 5, 5);
             Tensor w = Tensor.zeros(DType.F32, 3, 2, 3, 3); Tensor gw = Tensor.full(7, DType.F32, 3, 2, 3, 3)) {
            Backends.cpu().conv2dBackwardWeight(x, gy, params(1, 1, 1, 1), gw);
            for (double v : gw.toDoubleArray()) assertEquals(0, v);
            Backends.cpu().conv2dBackwardInput(gy, w, params(1, 1, 1, 1), x); // nothing to write
        }
    }

    @Test
    void badShapesNameTheOp() {
        try (Tensor x = Tensor.zeros(DType.F32, 2, 4, 5, 5); Tensor w = Tensor.zeros(DType.F32, 3, 4, 3, 3);
             Tensor gyBad = Tensor.zeros(DType.F32, 2, 3, 4, 4); Tensor gw = Tensor.zeros(DType.F32, 3, 4, 3, 3);
             Tensor w3 = Tensor.zeros(DType.F32, 3, 4, 3)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Backends.cpu().conv2dBackwardInput(gyBad, w, params(1, 1, 1, 1), x));
            assertTrue(e.getMessage().contains("conv2d backward (input)") && e.getMessage().contains("[2, 3, 4, 4]")
                    && e.getMessage().contains("[2, 3, 5, 5]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Backends.cpu().conv2dBackwardWeight(x, gyBad, params(1, 1, 1, 1), gw));
            assertTrue(e.getMessage().contains("conv2d backward (weight)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Backends.cpu().conv2dBackwardWeight(x, gyBad, params(1, 1, 1, 2), gw));
            assertTrue(e.getMessage().contains("conv2d backward (weight)") && e.getMessage().contains("groups=2"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Backends.cpu().conv2dBackwardInput(gyBad, w3, params(1, 1, 1, 1), x));
            assertTrue(e.getMessage().contains("4-d"), e.getMessage());
        }
    }

    // ------------------------------------------------------------------ through autograd

    /**
     * Central differences in float64 through the public API: L = sum(conv2d(x, w) * g), whose gradient
     * autograd gets from conv2d(x, w).backward(g); L itself is summed here in double.
     */
    private static void finiteDifferences(String name, Tensor x, Tensor w, Conv2dParams p, Generator gen) {
        x.requiresGrad(true);
        w.requiresGrad(true);
        Tensor g = rand(gen, DType.F64, outShape(x.dim() == 4 ? x.shape() : new int[]{1, x.size(0), x.size(1), x.size(2)}, w.shape(), p));
        Tensor gg = x.dim() == 4 ? g : g.squeeze(0);
        x.conv2d(w, null, p).backward(gg);
        double[] gv = g.toDoubleArray();
        double h = 1e-6;
        for (Tensor t : new Tensor[]{x, w}) {
            for (long i = 0; i < t.numel(); i++) {
                long si = t.storageIndex(i);
                double orig = t.storage().getDouble(DType.F64, si);
                t.storage().setDouble(DType.F64, si, orig + h);
                double lp = loss(x, w, p, gv);
                t.storage().setDouble(DType.F64, si, orig - h);
                double lm = loss(x, w, p, gv);
                t.storage().setDouble(DType.F64, si, orig);
                double numeric = (lp - lm) / (2 * h), analytic = t.grad().getFlat(i);
                if (!(Math.abs(analytic - numeric) <= 1e-5 + 1e-5 * Math.abs(numeric)))
                    fail(String.format("%s: d/d%s[%d]: autograd %.8g vs finite difference %.8g",
                            name, t == x ? "x" : "w", i, analytic, numeric));
            }
        }
    }

    private static double loss(Tensor x, Tensor w, Conv2dParams p, double[] g) {
        try (GradMode.Guard ng = GradMode.noGrad(); Tensor y = x.conv2d(w, null, p)) {
            double[] yv = y.toDoubleArray();
            double s = 0;
            for (int i = 0; i < yv.length; i++) s += yv[i] * g[i];
            return s;
        }
    }

    @Test
    void finiteDifferences() {
        Generator g = new Generator(70);
        for (boolean scalar : new boolean[]{false, true}) {
            boolean old = CpuConfig.scalar();
            CpuConfig.setScalar(scalar);
            try {
                String tag = scalar ? " [scalar]" : " [gemm]";
                finiteDifferences("conv2d stride/pad/dilation" + tag, rand(g, DType.F64, 2, 3, 7, 6),
                        rand(g, DType.F64, 4, 3, 3, 2), new Conv2dParams(2, 1, 1, 2, 2, 1, 1), g);
                finiteDifferences("conv2d same 3x3" + tag, rand(g, DType.F64, 2, 2, 5, 6),
                        rand(g, DType.F64, 3, 2, 3, 3), params(1, 1, 1, 1), g);
                finiteDifferences("conv2d groups" + tag, rand(g, DType.F64, 2, 4, 5, 5),
                        rand(g, DType.F64, 6, 2, 3, 3), params(1, 1, 1, 2), g);
                finiteDifferences("conv2d depthwise 1x1" + tag, rand(g, DType.F64, 2, 3, 4, 5),
                        rand(g, DType.F64, 3, 1, 1, 1), params(1, 0, 1, 3), g);
                finiteDifferences("conv2d unbatched" + tag, rand(g, DType.F64, 2, 5, 4),
                        rand(g, DType.F64, 3, 2, 3, 3), params(1, 1, 1, 1), g);
            } finally {
                CpuConfig.setScalar(old);
            }
        }
    }

    @Test
    void float32GradientsThroughAutograd() {
        Generator g = new Generator(71);
        Conv2dParams p = params(1, 1, 1, 1);
        Tensor x = rand(g, DType.F32, 2, 3, 6, 7).requiresGrad(true);
        Tensor w = rand(g, DType.F32, 4, 3, 3, 3).requiresGrad(true);
        Tensor gy = rand(g, DType.F32, 2, 4, 6, 7);
        x.conv2d(w, null, p).backward(gy);
        assertEquals(DType.F32, x.grad().dtype());
        assertEquals(DType.F32, w.grad().dtype());
        double[][] ref = reference(x.toDoubleArray(), x.shape(), w.toDoubleArray(), w.shape(), gy.toDoubleArray(), p);
        assertClose(ref[0], x.grad().toDoubleArray(), 1e-4, 1e-5, "autograd grad input");
        assertClose(ref[1], w.grad().toDoubleArray(), 1e-3, 1e-5, "autograd grad weight");
    }
}
