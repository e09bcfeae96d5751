package dev.kiln.backend.cpu;

import dev.kiln.ops.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * CPU reductions (sum, mean, max, min, prod, var, logsumexp, argmax, argmin), softmax and layer
 * norm. A {@link ReducePlan} classifies the layout:
 * <ul>
 *   <li>inner: each output reduces one contiguous run: vector row kernels ({@link ReduceRowF32},
 *       {@link ReduceRowF64}), parallel over outputs, or over chunks of a single long row;</li>
 *   <li>outer: the innermost kept dim is contiguous: whole rows are accumulated ({@link ReduceOuter});</li>
 *   <li>runs: the innermost reduced dim is contiguous and long (e.g. batch-norm statistics over
 *       N, H, W of NCHW): each run is reduced by the row kernels and the partials combined;</li>
 *   <li>otherwise x is copied with its reduced dims moved last, which makes it inner.</li>
 * </ul>
 * Integer/bool dtypes and the scalar switch use {@link ReduceScalar} on any layout.
 */
final class CpuReduce {
    private CpuReduce() {}

    /** Rows at least this long are split over threads when there are too few rows to split. */
    private static final int SPLIT_ROW = 1 << 16;

    static void reduce(ReduceOp op, Tensor x, int[] axes, Tensor out, double param) {
        String name = op.name().toLowerCase();
        boolean arg = op == ReduceOp.ARGMAX || op == ReduceOp.ARGMIN;
        checkShapes(name, x, axes, out, arg);
        DType t = x.dtype();
        DType want = arg ? DType.I64 : t;
        if (out.dtype() != want)
            throw new IllegalArgumentException(name + ": output dtype " + out.dtype().pyName() + ", expected " + want.pyName());
        ReducePlan p = ReducePlan.of(x, axes, out);
        if (p.nOut == 0) return;
        if (p.nRed == 0) {
            fillEmpty(op, name, x, out, p);
            return;
        }
        if (CpuConfig.scalar() || (t != DType.F32 && t != DType.F64)) {
            ReduceScalar.run(op, t, x.storage(), out.storage(), want, p, param);
        } else if (p.innerContiguous()) {
            inner(op, t, x.segment(), out, p, param);
        } else if (p.outerLayout() && ReduceOuter.supports(op, t, p.nRed)) {
            ReduceOuter.run(op, t, x.segment(), out.segment(), p, param);
        } else if (p.contiguousRuns() && !arg) {
            runs(op, t, x.segment(), out, p, param);
        } else {
            viaPermutedCopy(op, x, axes, out, param);
        }
    }

    private static void checkShapes(String name, Tensor x, int[] axes, Tensor out, boolean arg) {
        int[] s = x.shape();
        for (int i = 0; i < axes.length; i++)
            if (axes[i] < 0 || axes[i] >= s.length || (i > 0 && axes[i] <= axes[i - 1]))
                throw new IllegalArgumentException(name + ": axes " + Arrays.toString(axes) + " must be sorted, distinct and in range for shape " + Shape.str(s));
        if (arg && axes.length > 1)
            throw new IllegalArgumentException(name + ": takes a single axis, got " + Arrays.toString(axes));
        int[] k = s.clone();
        for (int a : axes) k[a] = 1;
        if (!Arrays.equals(k, out.shape()))
            throw new IllegalArgumentException(name + ": output shape " + Shape.str(out.shape()) + " != " + Shape.str(k)
                    + " for input " + Shape.str(s) + " reduced over " + Arrays.toString(axes));
    }

    /** Reductions over zero elements: sum 0, prod 1, mean/var NaN, logsumexp -inf; max/min/arg fail. */
    private static void fillEmpty(ReduceOp op, String name, Tensor x, Tensor out, ReducePlan p) {
        double v = switch (op) {
            case SUM -> 0;
            case PROD -> 1;
            case MEAN, VAR -> Double.NaN;
            case LOGSUMEXP -> Double.NEGATIVE_INFINITY;
            default -> throw new IllegalArgumentException(name + ": cannot reduce over zero elements of shape " + Shape.str(x.shape()));
        };
        for (long j = 0; j < p.nOut; j++) out.storage().setDouble(out.dtype(), p.outOffset(j), v);
    }

    /** Each output reduces the contiguous run x[xOffset(j) .. + nRed). */
    private static void inner(ReduceOp op, DType t, MemorySegment x, Tensor out, ReducePlan p, double param) {
        int n = (int) p.nRed;
        MemorySegment o = out.segment();
        DType ot = out.dtype();
        if (n >= SPLIT_ROW && p.nOut < CpuConfig.threads()) {
            for (long j = 0; j < p.nOut; j++) store(o, ot, p.outOffset(j), ReduceSplit.row(op, t, x, p.xOffset(j), n, param));
            return;
        }
        Parallel.forRange((int) p.nOut, n, (s, e) -> {
            for (int j = s; j < e; j++) store(o, ot, p.outOffset(j), row(op, t, x, p.xOffset(j), n, param));
        });
    }

    /** Each output reduces several contiguous runs (the innermost reduced dim); partials are combined. */
    private static void runs(ReduceOp op, DType t, MemorySegment x, Tensor out, ReducePlan p, double param) {
        int len = p.red[p.red.length - 1];
        long count = p.nRed / len;
        MemorySegment o = out.segment();
        DType ot = out.dtype();
        Parallel.forRange((int) p.nOut, p.nRed, (s, e) -> {
            long[] offs = new long[(int) count];
            for (int k = 0; k < count; k++) offs[k] = p.redOffset((long) k * len);
            for (int j = s; j < e; j++) store(o, ot, p.outOffset(j), runsOne(op, t, x, p.xOffset(j), offs, len, p.nRed, param));
        });
    }

    private static double runsOne(ReduceOp op, DType t, MemorySegment x, long base, long[] offs, int len, long n, double param) {
        switch (op) {
            case SUM, MEAN -> {
                double s = 0;
                for (long off : offs) s += row(ReduceOp.SUM, t, x, base + off, len, 0);
                return op == ReduceOp.MEAN ? s / n : s;
            }
            case PROD -> {
                double r = 1;
                for (long off : offs) r *= row(ReduceOp.PROD, t, x, base + off, len, 0);
                return r;
            }
            case MAX, MIN -> {
                boolean max = op == ReduceOp.MAX;
                double r = max ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
                for (long off : offs) {
                    double v = row(op, t, x, base + off, len, 0);
                    r = max ? Math.max(r, v) : Math.min(r, v);
                }
                return r;
            }
            case VAR -> {
                double mean = runsOne(ReduceOp.MEAN, t, x, base, offs, len, n, 0), ss = 0;
                for (long off : offs)
                    ss += t == DType.F32 ? ReduceRowF32.sumSqDev(x, base + off, len, (float) mean) : ReduceRowF64.sumSqDev(x, base + off, len, mean);
                return ss / Math.max(0, n - param);
            }
            case LOGSUMEXP -> {
                double m = runsOne(ReduceOp.MAX, t, x, base, offs, len, n, 0), s = 0;
                if (Double.isInfinite(m) || Double.isNaN(m)) return m;
                for (long off : offs)
                    s += t == DType.F32 ? ReduceRowF32.sumExp(x, base + off, len, (float) m) : ReduceRowF64.sumExp(x, base + off, len, m);
                return m + Math.log(s);
            }
            default -> throw new IllegalStateException(op.name());
        }
    }

    static void store(MemorySegment o, DType ot, long oi, double v) {
        switch (ot) {
            case F32 -> o.setAtIndex(dev.kiln.tensor.Storage.F32, oi, (float) v);
            case F64 -> o.setAtIndex(dev.kiln.tensor.Storage.F64, oi, v);
            default -> o.setAtIndex(dev.kiln.tensor.Storage.I64, oi, (long) v);
        }
    }

    /** One contiguous row; ARGMAX/ARGMIN return the index. */
    static double row(ReduceOp op, DType t, MemorySegment x, long xi, int n, double param) {
        return t == DType.F32 ? rowF32(op, x, xi, n, param) : rowF64(op, x, xi, n, param);
    }

    private static double rowF32(ReduceOp op, MemorySegment x, long xi, int n, double param) {
        return switch (op) {
            case SUM -> ReduceRowF32.sum(x, xi, n);
            case MEAN -> ReduceRowF32.sum(x, xi, n) / n;
            case MAX -> ReduceRowF32.max(x, xi, n);
            case MIN -> ReduceRowF32.min(x, xi, n);
            case PROD -> ReduceRowF32.prod(x, xi, n);
            case VAR -> ReduceRowF32.sumSqDev(x, xi, n, (float) (ReduceRowF32.sum(x, xi, n) / n)) / Math.max(0, n - param);
            case LOGSUMEXP -> ReduceRowF32.logSumExp(x, xi, n);
            case ARGMAX -> ReduceRowF32.argExtreme(x, xi, n, true);
            case ARGMIN -> ReduceRowF32.argExtreme(x, xi, n, false);
        };
    }

    private static double rowF64(ReduceOp op, MemorySegment x, long xi, int n, double param) {
        return switch (op) {
            case SUM -> ReduceRowF64.sum(x, xi, n);
            case MEAN -> ReduceRowF64.sum(x, xi, n) / n;
            case MAX -> ReduceRowF64.max(x, xi, n);
            case MIN -> ReduceRowF64.min(x, xi, n);
            case PROD -> ReduceRowF64.prod(x, xi, n);
            case VAR -> ReduceRowF64.sumSqDev(x, xi, n, ReduceRowF64.sum(x, xi, n) / n) / Math.max(0, n - param);
            case LOGSUMEXP -> ReduceRowF64.logSumExp(x, xi, n);
            case ARGMAX -> ReduceRowF64.argExtreme(x, xi, n, true);
            case ARGMIN -> ReduceRowF64.argExtreme(x, xi, n, false);
        };
    }

    /** Copies x with the reduced axes moved last (contiguous), then reduces the inner runs. */
    private static void viaPermutedCopy(ReduceOp op, Tensor x, int[] axes, Tensor out, double param) {
        int r = x.dim();
        int[] order = new int[r];
        boolean[] red = new boolean[r];
        for (int a : axes) red[a] = true;
        int k = 0;
        for (int i = 0; i < r; i++) if (!red[i]) order[k++] = i;
        for (int a : axes) order[k++] = a;
        int[] lastAxes = new int[axes.length];
        for (int i = 0; i < axes.length; i++) lastAxes[i] = r - axes.length + i;
        try (Tensor xp = x.permute(order); Tensor xc = xp.clone(); Tensor op2 = out.permute(order)) {
            ReducePlan p = ReducePlan.of(xc, lastAxes, op2);
            inner(op, x.dtype(), xc.segment(), op2, p, param);
        }
    }

    // ------------------------------------------------------------------ softmax, layer norm

    static void softmax(Tensor x, int axis, boolean log, Tensor out) {
        ReduceNorm.softmax(x, axis, log, out);
    }

    static void layerNorm(Tensor x, Tensor w, Tensor b, int normalizedDims, double eps, Tensor out) {
        ReduceNorm.layerNorm(x, w, b, normalizedDims, eps, out);
    }
}
