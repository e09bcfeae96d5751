package dev.kiln.backend.cpu;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.Backends;
import dev.kiln.ops.Conv;
import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
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
 * max/avg pool2d backward against a float64 reference written from PyTorch's window rules
 * (overlapping windows, padding, ceil mode, both countIncludePad settings), plus finite differences
 * through autograd.
 */
class PoolGradTest {
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    // ------------------------------------------------------------------ reference

    /**
     * gx for x [n,c,h,w] (contiguous) and gy: MAX sends gy to the first maximum of each window
     * (positions inside the input only), AVG spreads gy / divisor over the window's positions inside
     * the input, divisor = positions inside the padded input (countIncludePad) or inside the input.
     */
    static double[] reference(PoolOp op, double[] x, int[] xs, double[] gy, int oh, int ow, Pool2dParams p) {
        int planes = xs[0] * xs[1], h = xs[2], w = xs[3];
        double[] gx = new double[x.length];
        for (int pl = 0; pl < planes; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    int y0 = i * p.strideH() - p.padH(), x0 = j * p.strideW() - p.padW();
                    double g = gy[(pl * oh + i) * ow + j], best = Double.NEGATIVE_INFINITY;
                    int at = -1, inside = 0, padded = 0;
                    for (int y = y0; y < y0 + p.kernelH(); y++)
                        for (int xx = x0; xx < x0 + p.kernelW(); xx++) {
                            if (y < h + p.padH() && xx < w + p.padW()) padded++;
                            if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                            inside++;
                            double v = x[(pl * h + y) * w + xx];
                            if (v > best) {
                                best = v;
                                at = (pl * h + y) * w + xx;
                            }
                        }
                    if (op == PoolOp.MAX) {
                        gx[at] += g;
                        continue;
                    }
                    if (inside == 0) continue;
                    double v = g / (p.countIncludePad() ? padded : inside);
                    for (int y = Math.max(y0, 0); y < Math.min(y0 + p.kernelH(), h); y++)
                        for (int xx = Math.max(x0, 0); xx < Math.min(x0 + p.kernelW(), w); xx++) gx[(pl * h + y) * w + xx] += v;
                }
        return gx;
    }

    private static Tensor rand(Generator g, DType t, int... shape) { return Tensor.uniform(g, -2, 2, t, shape); }

    /** The backward kernel on x's forward (indices from the real forward), gx pre-filled with NaN. */
    private static double[] backward(PoolOp op, Tensor x, Tensor gy, Pool2dParams p) {
        Tensor[] fwd = Conv.maxPool2dWithIndices(x, p);
        try (Tensor gx = Tensor.full(Double.NaN, x.dtype(), x.shape())) {
            Backends.cpu().pool2dBackward(op, gy, op == PoolOp.MAX ? fwd[1] : null, p, gx);
            return gx.toDoubleArray();
        } finally {
            for (Tensor t : fwd) t.close();
        }
    }

    private static void check(PoolOp op, Tensor x, Tensor gy, Pool2dParams p, String what) {
        double[] ref = reference(op, x.toDoubleArray(), x.shape(), gy.toDoubleArray(), gy.size(2), gy.size(3), p);
        double tol = x.dtype() == DType.F64 ? 1e-12 : 1e-5;
        double[] got = backward(op, x, gy, p);
        assertEquals(ref.length, got.length);
        for (int i = 0; i < ref.length; i++)
            if (!(Math.abs(ref[i] - got[i]) <= tol + tol * Math.abs(ref[i])))
                fail(what + ": element " + i + " expected " + ref[i] + " got " + got[i]);
    }

    private static void random(long seed, PoolOp op, int n, int c, int h, int w, Pool2dParams p, DType t) {
        Generator g = new Generator(seed);
        try (Tensor x = rand(g, t, n, c, h, w);
             Tensor gy = rand(g, t, Conv.poolShape("test", x.shape(), p))) {
            check(op, x, gy, p, op + " " + Arrays.toString(x.shape()) + " " + p + " " + t);
        }
    }

    private static Pool2dParams pool(int k, int s, int pad, boolean ceil, boolean includePad) {
        return new Pool2dParams(k, k, s, s, pad, pad, ceil, includePad);
    }

    // ------------------------------------------------------------------ hand-computed

    @Test
    void handComputed() {
        float[] xv = {1, 2, 5, 3,
                      4, 0, 1, 2,
                      0, 9, 1, 1,
                      3, 1, 1, 7};
        try (Tensor x = Tensor.fromArray(xv, 1, 1, 4, 4); Tensor gy = Tensor.fromArray(new float[]{1, 2, 3, 4}, 1, 1, 2, 2)) {
            Pool2dParams p = Pool2dParams.of(2, 2, 0);
            assertArrayEquals(new double[]{0, 0, 2, 0, 1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 4}, backward(PoolOp.MAX, x, gy, p));
            assertArrayEquals(new double[]{.25, .25, .5, .5, .25, .25, .5, .5, .75, .75, 1, 1, .75, .75, 1, 1},
                    backward(PoolOp.AVG, x, gy, p));
            // kernel 3 stride 1 on the 4x4: the 9 at (2,1) is the max of all four windows
            Pool2dParams k3 = Pool2dParams.of(3, 1, 0);
            double[] gx = backward(PoolOp.MAX, x, gy, k3);
            assertEquals(10, gx[9]);
            assertEquals(10, Arrays.stream(gx).sum());
        }
    }

    @Test
    void tiesGoToTheFirstPositionOfEachWindow() {
        // constant input, kernel 3 stride 2 padding 1 on 5x5: window (i, j) starts at (2i-1, 2j-1),
        // so its first position inside the input is (max(2i-1, 0), max(2j-1, 0))
        try (Tensor x = Tensor.full(1, DType.F32, 1, 1, 5, 5); Tensor gy = Tensor.full(1, DType.F32, 1, 1, 3, 3)) {
            double[] gx = backward(PoolOp.MAX, x, gy, Pool2dParams.of(3, 2, 1));
            double[] expect = new double[25];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) expect[Math.max(2 * i - 1, 0) * 5 + Math.max(2 * j - 1, 0)] += 1;
            assertArrayEquals(expect, gx);
        }
    }

    // ------------------------------------------------------------------ random shapes vs the reference

    @Test
    void maxPooling() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            random(1, PoolOp.MAX, 2, 3, 6, 8, Pool2dParams.of(2, 2, 0), t);
            random(2, PoolOp.MAX, 1, 2, 7, 9, Pool2dParams.of(2, 2, 0), t);            // odd: last row/col unused
            random(3, PoolOp.MAX, 3, 2, 7, 9, Pool2dParams.of(3, 2, 1), t);            // overlapping windows
            random(4, PoolOp.MAX, 2, 2, 8, 8, pool(3, 2, 0, true, true), t);           // ceil mode: clipped last window
            random(5, PoolOp.MAX, 1, 2, 9, 7, pool(3, 2, 1, true, true), t);
            random(6, PoolOp.MAX, 1, 1, 45, 65, Pool2dParams.of(3, 1, 1), t);          // stride 1, heavy overlap
            random(7, PoolOp.MAX, 2, 2, 7, 10, new Pool2dParams(2, 3, 1, 2, 1, 1, false, true), t);
        }
        random(8, PoolOp.MAX, 3, 16, 28, 28, Pool2dParams.of(2, 2, 0), DType.F32);   // the CNN's first pool
    }

    @Test
    void avgPooling() {
        for (DType t : new DType[]{DType.F32, DType.F64})
            for (boolean includePad : new boolean[]{true, false})
                for (boolean ceil : new boolean[]{false, true}) {
                    random(10, PoolOp.AVG, 2, 3, 7, 9, pool(3, 2, 1, ceil, includePad), t);
                    random(11, PoolOp.AVG, 1, 2, 8, 8, pool(3, 2, 0, ceil, includePad), t);
                    random(12, PoolOp.AVG, 2, 2, 6, 8, pool(2, 2, 0, ceil, includePad), t);
                    random(13, PoolOp.AVG, 1, 2, 9, 10, new Pool2dParams(2, 3, 1, 2, 1, 1, ceil, includePad), t);
                    random(14, PoolOp.AVG, 1, 1, 1, 1, pool(1, 1, 0, ceil, includePad), t);
                    random(15, PoolOp.AVG, 1, 2, 5, 6, pool(4, 3, 2, ceil, includePad), t);
                }
    }

    @Test
    void stridedOperandsAndOutputs() {
        for (DType t : new DType[]{DType.F32, DType.F64}) stridedOperandsAndOutputs(t);
    }

    /** Sliced gy, transposed indices, transposed gx: the segment route (contiguous F32 takes heap arrays). */
    private static void stridedOperandsAndOutputs(DType t) {
        Generator g = new Generator(20);
        Pool2dParams p = Pool2dParams.of(3, 2, 1);
        double tol = t == DType.F64 ? 1e-12 : 1e-5;
        try (Tensor x = rand(g, t, 2, 3, 7, 9);
             Tensor gyWide = rand(g, t, 2, 3, 4, 12); Tensor gy = gyWide.narrow(3, 3, 5);
             Tensor gxT = Tensor.full(Double.NaN, t, 2, 3, 9, 7); Tensor gx = gxT.transpose(2, 3)) {
            Tensor[] fwd = Conv.maxPool2dWithIndices(x, p);
            try (Tensor idxT = fwd[1].transpose(2, 3).contiguous(); Tensor idx = idxT.transpose(2, 3)) {
                assertTrue(!gy.isContiguous() && !idx.isContiguous() && !gx.isContiguous());
                for (PoolOp op : PoolOp.values()) {
                    Backends.cpu().pool2dBackward(op, gy, op == PoolOp.MAX ? idx : null, p, gx);
                    double[] ref = reference(op, x.toDoubleArray(), x.shape(), gy.toDoubleArray(), 4, 5, p);
                    double[] got = gx.toDoubleArray();
                    for (int i = 0; i < ref.length; i++) assertEquals(ref[i], got[i], tol, op + " " + t + " element " + i);
                }
            } finally {
                for (Tensor f : fwd) f.close();
            }
        }
    }

    @Test
    void otherDtypesGoThroughFloat64() {
        Generator g = new Generator(21);
        Pool2dParams p = Pool2dParams.of(2, 2, 0);
        try (Tensor x = rand(g, DType.F32, 1, 2, 4, 6); Tensor gy = rand(g, DType.F32, 1, 2, 2, 3);
             Tensor gx = Tensor.zeros(DType.BF16, 1, 2, 4, 6)) {
            Backends.cpu().pool2dBackward(PoolOp.AVG, gy, null, p, gx);
            double[] ref = reference(PoolOp.AVG, x.toDoubleArray(), x.shape(), gy.toDoubleArray(), 2, 3, p);
            double[] got = gx.toDoubleArray();
            for (int i = 0; i < ref.length; i++) assertEquals(ref[i], got[i], 1e-2 * Math.abs(ref[i]), "bf16 element " + i);
        }
    }

    @Test
    void badInputNamesTheOp() {
        Pool2dParams p = Pool2dParams.of(2, 2, 0);
        try (Tensor gy = Tensor.zeros(DType.F32, 1, 1, 2, 2); Tensor gx = Tensor.zeros(DType.F32, 1, 1, 4, 4);
             Tensor gyBad = Tensor.zeros(DType.F32, 1, 1, 3, 2);
             Tensor idx = Tensor.fromArray(new long[]{0, 2, 8, 16}, 1, 1, 2, 2);
             Tensor idx32 = Tensor.fromArray(new int[]{0, 2, 8, 10}, 1, 1, 2, 2)) {
            var e = assertThrows(IllegalArgumentException.class, () -> Backends.cpu().pool2dBackward(PoolOp.MAX, gy, null, p, gx));
            assertTrue(e.getMessage().contains("max_pool2d backward") && e.getMessage().contains("indices"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Backends.cpu().pool2dBackward(PoolOp.MAX, gy, idx32, p, gx));
            assertTrue(e.getMessage().contains("int32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Backends.cpu().pool2dBackward(PoolOp.MAX, gy, idx, p, gx));
            assertTrue(e.getMessage().contains("index 16") && e.getMessage().contains("4x4"), e.getMessage());
            try (Tensor gx64 = Tensor.zeros(DType.F64, 1, 1, 4, 4); Tensor gy64 = Tensor.zeros(DType.F64, 1, 1, 2, 2)) {
                e = assertThrows(IllegalArgumentException.class, () -> Backends.cpu().pool2dBackward(PoolOp.MAX, gy64, idx, p, gx64));
                assertTrue(e.getMessage().contains("index 16"), e.getMessage());
            }
            e = assertThrows(IllegalArgumentException.class, () -> Backends.cpu().pool2dBackward(PoolOp.AVG, gyBad, null, p, gx));
            assertTrue(e.getMessage().contains("avg_pool2d backward") && e.getMessage().contains("[1, 1, 3, 2]"), e.getMessage());
        }
    }

    // ------------------------------------------------------------------ through autograd

    /** Central differences of L = sum(pool(x) * g) against autograd (pool(x).backward(g)), float64. */
    private static void finiteDifferences(String name, PoolOp op, Tensor x, Pool2dParams p, Generator gen) {
        x.requiresGrad(true);
        int[] xs = x.dim() == 4 ? x.shape() : new int[]{1, x.size(0), x.size(1), x.size(2)};
        int[] ys = Conv.poolShape(name, xs, p);
        Tensor g = rand(gen, DType.F64, x.dim() == 4 ? ys : Arrays.copyOfRange(ys, 1, 4));
        Conv.pool2d(op, x, p).backward(g);
        double[] gv = g.toDoubleArray();
        double h = 1e-6;
        for (long i = 0; i < x.numel(); i++) {
            long si = x.storageIndex(i);
            double orig = x.storage().getDouble(DType.F64, si);
            x.storage().setDouble(DType.F64, si, orig + h);
            double lp = loss(op, x, p, gv);
            x.storage().setDouble(DType.F64, si, orig - h);
            double lm = loss(op, x, p, gv);
            x.storage().setDouble(DType.F64, si, orig);
            double numeric = (lp - lm) / (2 * h), analytic = x.grad().getFlat(i);
            if (!(Math.abs(analytic - numeric) <= 1e-6 + 1e-6 * Math.abs(numeric)))
                fail(String.format("%s: d/dx[%d]: autograd %.8g vs finite difference %.8g", name, i, analytic, numeric));
        }
    }

    private static double loss(PoolOp op, Tensor x, Pool2dParams p, double[] g) {
        try (GradMode.Guard ng = GradMode.noGrad(); Tensor y = Conv.pool2d(op, x, p)) {
            double[] yv = y.toDoubleArray();
            double s = 0;
            for (int i = 0; i < yv.length; i++) s += yv[i] * g[i];
            return s;
        }
    }

    @Test
    void finiteDifferences() {
        Generator g = new Generator(30);
        finiteDifferences("max_pool2d", PoolOp.MAX, rand(g, DType.F64, 2, 2, 6, 5), Pool2dParams.of(2, 2, 0), g);
        finiteDifferences("max_pool2d overlap", PoolOp.MAX, rand(g, DType.F64, 1, 2, 7, 7), Pool2dParams.of(3, 2, 1), g);
        finiteDifferences("avg_pool2d", PoolOp.AVG, rand(g, DType.F64, 1, 2, 7, 6), Pool2dParams.of(3, 2, 1), g);
        finiteDifferences("avg_pool2d ceil, no pad count", PoolOp.AVG, rand(g, DType.F64, 1, 2, 8, 7),
                pool(3, 2, 1, true, false), g);
        finiteDifferences("avg_pool2d unbatched", PoolOp.AVG, rand(g, DType.F64, 2, 5, 6), Pool2dParams.of(2, 2, 0), g);
    }
}
