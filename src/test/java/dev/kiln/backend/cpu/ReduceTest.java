package dev.kiln.backend.cpu;

import dev.kiln.ops.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.kiln.backend.cpu.ElementwiseTest.Named;
import static dev.kiln.backend.cpu.ElementwiseTest.assertClose;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Reductions, softmax and layer norm through the public Tensor API, against float64 references
 * computed here: every op over every axis subset of plain and non-contiguous inputs (inner, outer
 * and permuted layouts), vector and scalar paths, NaN / inf / empty cases, integer dtypes, a 1M
 * float32 sum, and multi-threaded runs.
 */
class ReduceTest {

    @AfterEach
    void restore() {
        CpuConfig.setScalar(false);
        CpuConfig.setThreads(Runtime.getRuntime().availableProcessors());
    }

    // ------------------------------------------------------------------ reference

    /** Keepdim reduction of x (row-major values of the given shape) over axes, in double. */
    static double[] refReduce(ReduceOp op, double[] x, int[] shape, int[] axes, double param) {
        int[] os = shape.clone();
        for (int a : axes) os[a] = 1;
        int outN = 1;
        for (int d : os) outN *= d;
        List<List<Double>> groups = new ArrayList<>();
        for (int i = 0; i < outN; i++) groups.add(new ArrayList<>());
        int[] idx = new int[shape.length];
        for (double v : x) {
            int o = 0;
            for (int d = 0; d < shape.length; d++) o = o * os[d] + (os[d] == 1 ? 0 : idx[d]);
            groups.get(o).add(v);
            for (int d = shape.length - 1; d >= 0; d--) { // odometer
                if (++idx[d] < shape[d]) break;
                idx[d] = 0;
            }
        }
        double[] out = new double[outN];
        for (int i = 0; i < outN; i++) out[i] = refGroup(op, groups.get(i), param);
        return out;
    }

    static double refGroup(ReduceOp op, List<Double> g, double param) {
        int n = g.size();
        double sum = 0, max = Double.NEGATIVE_INFINITY, min = Double.POSITIVE_INFINITY, prod = 1;
        boolean nan = false;
        for (double v : g) {
            sum += v;
            prod *= v;
            nan |= Double.isNaN(v);
            max = Math.max(max, v);
            min = Math.min(min, v);
        }
        return switch (op) {
            case SUM -> sum;
            case MEAN -> sum / n;
            case MAX -> nan ? Double.NaN : max;
            case MIN -> nan ? Double.NaN : min;
            case PROD -> prod;
            case VAR -> {
                double m = sum / n, ss = 0;
                for (double v : g) ss += (v - m) * (v - m);
                yield ss / Math.max(0, n - param);
            }
            case LOGSUMEXP -> {
                if (nan || Double.isInfinite(max)) yield nan ? Double.NaN : max;
                double s = 0;
                for (double v : g) s += Math.exp(v - max);
                yield max + Math.log(s);
            }
            case ARGMAX, ARGMIN -> {
                int at = 0;
                for (int i = 0; i < n; i++) {
                    double v = g.get(i), b = g.get(at);
                    if (Double.isNaN(b)) break;
                    if (Double.isNaN(v) || (op == ReduceOp.ARGMAX ? v > b : v < b)) at = i;
                }
                yield at;
            }
        };
    }

    static Tensor apply(ReduceOp op, Tensor x, int[] axes, boolean keepdim, int param) {
        return switch (op) {
            case SUM -> x.sum(axes, keepdim);
            case MEAN -> x.mean(axes, keepdim);
            case MAX -> x.max(axes, keepdim);
            case MIN -> x.min(axes, keepdim);
            case PROD -> x.prod(axes, keepdim);
            case VAR -> x.var(axes, keepdim, param);
            case LOGSUMEXP -> x.logsumexp(axes, keepdim);
            case ARGMAX -> x.argmax(axes[0], keepdim);
            case ARGMIN -> x.argmin(axes[0], keepdim);
        };
    }

    /** Tolerance of a float result: sums scale with sum |x|, products with n. */
    static double tol(ReduceOp op, DType t, double[] x, double ref) {
        double absSum = 0;
        for (double v : x) if (Double.isFinite(v)) absSum += Math.abs(v);
        double eps = t == DType.F64 ? 1e-14 : 1e-6;
        return switch (op) {
            case SUM, MEAN -> eps * (absSum + 1);
            case PROD -> (t == DType.F64 ? 1e-13 : 3e-5) * Math.abs(ref);
            case VAR -> 10 * eps * (Math.abs(ref) + 1e-3);
            default -> eps * (Math.abs(ref) + 1);
        };
    }

    /** All non-empty axis subsets of a rank. */
    static List<int[]> subsets(int rank) {
        List<int[]> s = new ArrayList<>();
        for (int m = 1; m < 1 << rank; m++) {
            int[] a = new int[Integer.bitCount(m)];
            for (int d = 0, k = 0; d < rank; d++) if ((m >> d & 1) != 0) a[k++] = d;
            s.add(a);
        }
        return s;
    }

    private static void check(ReduceOp op, Tensor x, int[] axes, int param, String what) {
        DType t = x.dtype();
        double[] xv = x.toDoubleArray();
        int[] ax = x.dim() == 0 ? new int[0] : axes.length == 0 ? allAxes(x.dim()) : axes;
        double[] ref = refReduce(op, xv, x.shape(), ax, param);
        for (boolean scalar : new boolean[]{false, true}) {
            CpuConfig.setScalar(scalar);
            Tensor r = apply(op, x, axes.length == 0 ? null : axes, true, param);
            int[] want = x.shape();
            for (int a : ax) want[a] = 1;
            String w = what + (scalar ? " scalar" : " vector");
            assertArrayEquals(want, r.shape(), w + ": keepdim shape");
            double[] got = r.toDoubleArray();
            for (int i = 0; i < ref.length; i++) {
                double tl = tol(op, t, xv, ref[i]);
                if (Double.isNaN(ref[i])) assertTrue(Double.isNaN(got[i]), w + " at " + i + ": expected NaN, got " + got[i]);
                else if (Double.isInfinite(ref[i])) assertEquals(ref[i], got[i], w + " at " + i);
                else assertEquals(ref[i], got[i], tl, w + " at " + i);
            }
        }
        CpuConfig.setScalar(false);
    }

    private static int[] allAxes(int r) {
        int[] a = new int[r];
        for (int i = 0; i < r; i++) a[i] = i;
        return a;
    }

    // ------------------------------------------------------------------ tests

    @Test
    void everyReductionOverEveryAxisSubsetMatchesReference() {
        ReduceOp[] ops = {ReduceOp.SUM, ReduceOp.MEAN, ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PROD, ReduceOp.VAR, ReduceOp.LOGSUMEXP};
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            for (ReduceOp op : ops) {
                double lo = op == ReduceOp.PROD ? 0.9 : -2, hi = op == ReduceOp.PROD ? 1.1 : 2;
                try (Scope s = Scope.open()) {
                    for (Named v : ElementwiseTest.views(op.ordinal() * 13L + t.ordinal(), t, lo, hi)) {
                        int rank = v.t().dim();
                        List<int[]> axesList = rank == 0 ? List.of(new int[0]) : subsets(rank);
                        for (int[] axes : axesList)
                            for (int param : op == ReduceOp.VAR ? new int[]{0, 1} : new int[]{0})
                                check(op, v.t(), axes, param, op + " " + t + " " + v + " axes " + Arrays.toString(axes) + " p" + param);
                    }
                }
            }
        }
    }

    @Test
    void keepdimFalseDropsAxesAndDefaultsReduceEverything() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.arange(0, 24, 1, DType.F32).reshape(2, 3, 4);
            assertArrayEquals(new int[]{2, 4}, x.sum(new int[]{1}, false).shape());
            assertArrayEquals(new int[]{3}, x.sum(new int[]{0, -1}, false).shape());
            assertArrayEquals(new int[0], x.sum().shape());
            assertEquals(276, x.sum().item());
            assertEquals(11.5, x.mean().item(), 1e-6);
            assertEquals(23, x.max().item());
            assertArrayEquals(new double[]{60, 66, 72, 78}, x.sum(new int[]{0, 1}, false).toDoubleArray());
            assertArrayEquals(new long[]{2, 2}, x.argmax(1, false).select(1, 0).toLongArray());
            // a 0-d tensor takes axis 0 or -1 and reduces nothing, like PyTorch
            Tensor z = Tensor.scalar(3);
            for (int ax : new int[]{0, -1}) {
                assertEquals(3, z.sum(new int[]{ax}, false).item());
                assertArrayEquals(new int[0], z.max(new int[]{ax}, true).shape());
                assertEquals(0, z.argmax(ax, false).item());
                assertEquals(1, z.softmax(ax).item());
                assertEquals(0, z.var(new int[]{ax}, false, 0).item());
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> z.sum(new int[]{1}, false));
            assertTrue(e.getMessage().contains("sum") && e.getMessage().contains("axis 1"), e.getMessage());
        }
    }

    @Test
    void argmaxArgminTakeTheFirstExtremeAndTreatNaNAsMax() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                for (Named v : ElementwiseTest.views(77 + t.ordinal(), t, -2, 2)) {
                    Tensor x = v.t();
                    for (int axis = 0; axis < Math.max(1, x.dim()); axis++)
                        for (ReduceOp op : new ReduceOp[]{ReduceOp.ARGMAX, ReduceOp.ARGMIN})
                            check(op, x, x.dim() == 0 ? new int[]{0} : new int[]{axis}, 0, op + " " + t + " " + v + " axis " + axis);
                }
                // ties: the first index wins; NaN wins over everything, the first NaN
                double n = Double.NaN;
                double[] vals = new double[40];
                Arrays.fill(vals, 1);
                vals[3] = 5;
                vals[20] = 5;
                vals[33] = -5;
                vals[37] = -5;
                Tensor x = Tensor.fromDoubles(t, vals, 40);
                for (boolean scalar : new boolean[]{false, true}) {
                    CpuConfig.setScalar(scalar);
                    assertEquals(3, x.argmax(0, false).item());
                    assertEquals(33, x.argmin(0, false).item());
                }
                vals[25] = n;
                vals[30] = n;
                x = Tensor.fromDoubles(t, vals, 40);
                for (boolean scalar : new boolean[]{false, true}) {
                    CpuConfig.setScalar(scalar);
                    assertEquals(25, x.argmax(0, false).item(), "argmax NaN " + scalar);
                    assertEquals(25, x.argmin(0, false).item(), "argmin NaN " + scalar);
                    assertTrue(Double.isNaN(x.max().item()), "max propagates NaN");
                    assertTrue(Double.isNaN(x.min().item()), "min propagates NaN");
                    assertTrue(Double.isNaN(x.logsumexp(null, false).item()));
                }
                CpuConfig.setScalar(false);
            }
        }
    }

    @Test
    void infinitiesAndEmptyReductions() {
        double ni = Double.NEGATIVE_INFINITY, pi = Double.POSITIVE_INFINITY;
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.fromDoubles(t, new double[]{ni, ni, ni, 0, ni, 1, 2, pi, 3}, 3, 3);
                for (boolean scalar : new boolean[]{false, true}) {
                    CpuConfig.setScalar(scalar);
                    assertArrayEquals(new double[]{ni, 1 + Math.log(1 + Math.exp(-1)), pi},
                            x.logsumexp(new int[]{1}, false).toDoubleArray(), 1e-6);
                    Tensor big = Tensor.fromDoubles(t, new double[]{1000, 1001, 999}, 3);
                    assertEquals(1001 + Math.log(1 + Math.exp(-1) + Math.exp(-2)), big.logsumexp(null, false).item(), 1e-3);
                }
                CpuConfig.setScalar(false);
                Tensor e = Tensor.zeros(t, 0), e2 = Tensor.zeros(t, 2, 0);
                assertEquals(0, e.sum().item());
                assertEquals(1, e.prod(null, false).item());
                assertTrue(Double.isNaN(e.mean().item()));
                assertTrue(Double.isNaN(e.var(null, false, 1).item()));
                assertEquals(ni, e.logsumexp(null, false).item());
                assertArrayEquals(new double[]{0, 0}, e2.sum(new int[]{1}, false).toDoubleArray());
                assertArrayEquals(new int[]{0}, e2.sum(new int[]{0}, false).shape());
                IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> e.max());
                assertTrue(ex.getMessage().contains("max") && ex.getMessage().contains("[0]"), ex.getMessage());
                assertThrows(IllegalArgumentException.class, () -> e2.argmax(1, false));
                // var with correction >= n is inf or NaN, like PyTorch
                assertTrue(Double.isNaN(Tensor.scalar(3, t).reshape(1).var(null, false, 1).item()));
            }
        }
    }

    @Test
    void integerAndBoolReductionsAreExact() {
        try (Scope s = Scope.open()) {
            long big = 3_000_000_000L;
            Tensor i32 = Tensor.fromArray(new int[]{2_000_000_000, 2_000_000_000, -5, 7}, 4);
            Tensor sum = i32.sum();
            assertEquals(DType.I64, sum.dtype());
            assertEquals(4_000_000_002L, sum.toLongArray()[0]);
            Tensor i64 = Tensor.fromArray(new long[]{big, big + 1, -big, 1L << 60, 3}, 5);
            assertEquals(big + 1 + (1L << 60) + 3, i64.sum().toLongArray()[0]);
            assertEquals(1L << 60, i64.max().toLongArray()[0]);
            assertEquals(-big, i64.min().toLongArray()[0]);
            assertEquals(3, i64.argmax(0, false).toLongArray()[0]);
            assertEquals(2, i64.argmin(0, false).toLongArray()[0]);
            Tensor p = Tensor.fromArray(new long[]{3, -4, 5}, 3);
            assertEquals(-60, p.prod(null, false).toLongArray()[0]);
            Tensor i8 = Tensor.fromDoubles(DType.I8, new double[]{-128, 5, 127, 127, -3, 0}, 2, 3);
            assertEquals(DType.I8, i8.max().dtype());
            assertArrayEquals(new long[]{127, 127}, i8.max(new int[]{1}, false).toLongArray());
            assertArrayEquals(new long[]{2, 0}, i8.argmax(1, false).toLongArray());
            assertArrayEquals(new long[]{-1, 2, 127}, i8.sum(new int[]{0}, false).toLongArray());
            assertEquals(DType.F32, i8.mean().dtype());
            assertEquals(128.0 / 6, i8.mean().item(), 1e-5);
            Tensor b = Tensor.fromDoubles(DType.BOOL, new double[]{0, 1, 1, 0, 0}, 5);
            assertEquals(2, b.sum().toLongArray()[0]);
            assertEquals(1, b.max().toLongArray()[0]);
            assertEquals(1, b.argmax(0, false).toLongArray()[0]);
        }
    }

    @Test
    void millionElementFloat32SumIsAccurate() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.uniform(new Generator(5), 0.5, 1.5, DType.F32, 1 << 20);
            double ref = 0;
            for (double v : x.toDoubleArray()) ref += v;
            for (int threads : new int[]{1, 4}) {
                CpuConfig.setThreads(threads);
                assertEquals(ref, x.sum().item(), 1e-6 * ref, "sum, threads " + threads);
                assertEquals(ref / (1 << 20), x.mean().item(), 1e-6 * ref / (1 << 20), "mean, threads " + threads);
            }
            // the same sum over an outer axis ([1024, 1024] over dim 0, then all)
            Tensor m = x.reshape(1024, 1024);
            assertEquals(ref, m.sum(new int[]{0}, false).sum().item(), 1e-6 * ref);
            // variance of a large offset: two-pass stays accurate where sum-of-squares would not
            Tensor off = x.add(1000);
            double mean = ref / (1 << 20) + 1000, ss = 0;
            for (double v : off.toDoubleArray()) ss += (v - mean) * (v - mean);
            assertEquals(ss / ((1 << 20) - 1), off.var(null, false, 1).item(), 1e-3 * ss / (1 << 20));
        }
    }

    @Test
    void outerLayoutReductionsMatchReference() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Generator g = new Generator(9);
                Tensor[] xs = {Tensor.uniform(g, 0.8, 1.25, t, 300, 70), Tensor.uniform(g, 0.8, 1.25, t, 8, 50, 33),
                        Tensor.uniform(g, 0.8, 1.25, t, 6, 1100)};
                int[][] axes = {{0}, {1}, {0}};
                for (int k = 0; k < xs.length; k++)
                    for (ReduceOp op : ReduceOp.values())
                        if (op != ReduceOp.ARGMAX && op != ReduceOp.ARGMIN)
                            check(op, xs[k], axes[k], 1, op + " " + t + " outer " + Arrays.toString(xs[k].shape()));
                check(ReduceOp.ARGMAX, xs[0], new int[]{0}, 0, "argmax outer");
                check(ReduceOp.ARGMIN, xs[1], new int[]{1}, 0, "argmin middle");
                // batch-norm statistics: NCHW over (0, 2, 3) reduces contiguous runs of H*W
                Tensor nchw = Tensor.uniform(g, 0.9, 1.1, t, 4, 6, 5, 9);
                for (ReduceOp op : new ReduceOp[]{ReduceOp.SUM, ReduceOp.MEAN, ReduceOp.VAR, ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PROD, ReduceOp.LOGSUMEXP})
                    check(op, nchw, new int[]{0, 2, 3}, 1, op + " " + t + " runs (NCHW over 0,2,3)");
            }
        }
    }

    @Test
    void nanAndInfinitiesOnEveryLayout() {
        double n = Double.NaN, ni = Double.NEGATIVE_INFINITY, pi = Double.POSITIVE_INFINITY;
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                double[] v = new double[40 * 36];
                Generator g = new Generator(8);
                for (int i = 0; i < v.length; i++) v[i] = 4 * g.nextUniform() - 2;
                for (int r = 0; r < 40; r++) {
                    v[r * 36 + 3] = ni;             // column 3: all -inf
                    if (r % 7 == 2) v[r * 36 + 5] = n; // column 5: NaNs from row 2
                    if (r == 11) v[r * 36 + 8] = pi;  // column 8: one +inf
                }
                v[17 * 36 + 20] = n;
                Tensor x = Tensor.fromDoubles(t, v, 40, 36);
                Tensor[] layouts = {x, x.t(), x.reshape(40, 4, 9).permute(1, 0, 2)};
                for (Tensor xl : layouts)
                    for (ReduceOp op : new ReduceOp[]{ReduceOp.SUM, ReduceOp.MAX, ReduceOp.MIN, ReduceOp.LOGSUMEXP, ReduceOp.VAR})
                        for (int[] axes : subsets(xl.dim()))
                            check(op, xl, axes, 1, op + " " + t + " with NaN/inf " + Arrays.toString(xl.shape()) + " axes " + Arrays.toString(axes));
                for (Tensor xl : layouts)
                    for (int axis = 0; axis < xl.dim(); axis++) {
                        check(ReduceOp.ARGMAX, xl, new int[]{axis}, 0, "argmax NaN/inf " + t + " axis " + axis);
                        check(ReduceOp.ARGMIN, xl, new int[]{axis}, 0, "argmin NaN/inf " + t + " axis " + axis);
                    }
            }
        }
    }

    @Test
    void multiThreadedReductionsMatchSingleThreaded() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.uniform(new Generator(21), -2, 2, DType.F32, 3000, 100);
            Tensor row = Tensor.uniform(new Generator(22), -2, 2, DType.F32, 300_000);
            for (ReduceOp op : ReduceOp.values()) {
                int[] ax = {1};
                CpuConfig.setThreads(1);
                double[] one = apply(op, x, ax, false, 1).toDoubleArray();
                double oneRow = apply(op, row, new int[]{0}, false, 1).item();
                CpuConfig.setThreads(4);
                assertArrayEquals(one, apply(op, x, ax, false, 1).toDoubleArray(), op + ": rows are independent, so exact");
                double fourRow = apply(op, row, new int[]{0}, false, 1).item();
                assertEquals(oneRow, fourRow, 1e-5 * (Math.abs(oneRow) + 1), op + " on one long row split over threads");
            }
            CpuConfig.setThreads(1);
            double[] sm = x.softmax(1).toDoubleArray();
            CpuConfig.setThreads(4);
            assertArrayEquals(sm, x.softmax(1).toDoubleArray());
        }
    }

    // ------------------------------------------------------------------ softmax, layer norm

    static double[] refSoftmax(double[] x, int[] shape, int axis, boolean log) {
        double[] lse = refReduce(ReduceOp.LOGSUMEXP, x, shape, new int[]{axis}, 0);
        int inner = 1;
        for (int d = axis + 1; d < shape.length; d++) inner *= shape[d];
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            int outer = i / (inner * shape[axis]), in = i % inner;
            double l = lse[outer * inner + in];
            out[i] = log ? x[i] - l : Math.exp(x[i] - l);
        }
        return out;
    }

    @Test
    void softmaxAndLogSoftmaxAlongEveryAxis() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                for (Named v : ElementwiseTest.views(5 + t.ordinal(), t, -4, 4)) {
                    Tensor x = v.t();
                    for (int axis = 0; axis < Math.max(1, x.dim()); axis++) {
                        for (boolean log : new boolean[]{false, true}) {
                            int ax = axis;
                            double[] ref = x.dim() == 0 ? new double[]{log ? 0 : 1} : refSoftmax(x.toDoubleArray(), x.shape(), ax, log);
                            Tensor[] r = ElementwiseTest.bothPaths(y -> log ? y.logSoftmax(ax) : y.softmax(ax), x);
                            String w = (log ? "log_softmax " : "softmax ") + t + " " + v + " axis " + axis;
                            assertArrayEquals(x.shape(), r[0].shape(), w);
                            double rt = t == DType.F32 ? 2e-6 : 1e-13;
                            assertClose(w + " vector", ref, r[0].toDoubleArray(), rt, rt);
                            assertClose(w + " scalar", ref, r[1].toDoubleArray(), rt, rt);
                        }
                    }
                }
                // contiguous inputs along non-last axes (column path), with more than 256 rows per column
                for (Tensor x : new Tensor[]{Tensor.uniform(new Generator(3), -4, 4, t, 4, 30, 20), Tensor.uniform(new Generator(4), -4, 4, t, 300, 40)}) {
                    for (int axis = 0; axis < x.dim() - 1; axis++) {
                        for (boolean log : new boolean[]{false, true}) {
                            double[] ref = refSoftmax(x.toDoubleArray(), x.shape(), axis, log);
                            Tensor r = log ? x.logSoftmax(axis) : x.softmax(axis);
                            double rt = t == DType.F32 ? 2e-6 : 1e-13;
                            assertClose("softmax columns " + t + Arrays.toString(x.shape()) + " axis " + axis + " log " + log, ref, r.toDoubleArray(), rt, rt);
                        }
                    }
                }
                // stability with large values, -inf entries (masked), and a negative axis
                Tensor m = Tensor.fromDoubles(t, new double[]{1000, 1001, Double.NEGATIVE_INFINITY, 999}, 1, 4);
                double z = Math.exp(-1) + 1 + Math.exp(-2);
                assertClose("softmax large " + t, new double[]{Math.exp(-1) / z, 1 / z, 0, Math.exp(-2) / z},
                        m.softmax(-1).toDoubleArray(), 1e-7, 1e-6);
                assertClose("log_softmax large " + t, new double[]{-1 - Math.log(z), -Math.log(z), Double.NEGATIVE_INFINITY, -2 - Math.log(z)},
                        m.logSoftmax(-1).toDoubleArray(), 1e-6, 1e-6);
            }
        }
    }

    @Test
    void layerNormMatchesReferenceWithAndWithoutAffine() {
        for (DType t : new DType[]{DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Generator g = new Generator(31);
                Object[][] cases = {
                        {Tensor.uniform(g, -2, 2, t, 45, 65), new int[]{65}},
                        {Tensor.uniform(g, -2, 2, t, 4, 5, 6), new int[]{5, 6}},
                        {Tensor.uniform(g, -2, 2, t, 65, 45).t(), new int[]{65}},
                        {Tensor.uniform(g, 100, 101, t, 7, 1025), new int[]{1025}},
                        {Tensor.uniform(g, -2, 2, t, 3, 1), new int[]{1}}};
                for (Object[] c : cases) {
                    Tensor x = (Tensor) c[0];
                    int[] ns = (int[]) c[1];
                    Tensor w = Tensor.uniform(g, 0.5, 1.5, t, ns), b = Tensor.uniform(g, -1, 1, t, ns);
                    for (boolean affine : new boolean[]{true, false}) {
                        Tensor ww = affine ? w : null, bb = affine ? b : null;
                        double[] ref = refLayerNorm(x.toDoubleArray(), (int) w.numel(), affine ? w.toDoubleArray() : null,
                                affine ? b.toDoubleArray() : null, 1e-5);
                        Tensor[] r = ElementwiseTest.bothPaths(y -> y.layerNorm(ns, ww, bb, 1e-5), x);
                        String what = "layer_norm " + t + " " + Arrays.toString(x.shape()) + " over " + Arrays.toString(ns) + (affine ? "" : " no affine");
                        double tl = t == DType.F32 ? 5e-6 : 1e-11;
                        assertClose(what + " vector", ref, r[0].toDoubleArray(), tl, tl);
                        assertClose(what + " scalar", ref, r[1].toDoubleArray(), tl, tl);
                    }
                }
                IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                        () -> Tensor.zeros(t, 4, 5).layerNorm(new int[]{4}, null, null, 1e-5));
                assertTrue(ex.getMessage().contains("[4]") && ex.getMessage().contains("[4, 5]"), ex.getMessage());
            }
        }
    }

    static double[] refLayerNorm(double[] x, int d, double[] w, double[] b, double eps) {
        double[] out = new double[x.length];
        for (int r = 0; r < x.length / d; r++) {
            double m = 0, v = 0;
            for (int i = 0; i < d; i++) m += x[r * d + i];
            m /= d;
            for (int i = 0; i < d; i++) v += (x[r * d + i] - m) * (x[r * d + i] - m);
            double rstd = 1 / Math.sqrt(v / d + eps);
            for (int i = 0; i < d; i++)
                out[r * d + i] = (x[r * d + i] - m) * rstd * (w == null ? 1 : w[i]) + (b == null ? 0 : b[i]);
        }
        return out;
    }
}
