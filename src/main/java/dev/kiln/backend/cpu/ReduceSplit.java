package dev.kiln.backend.cpu;

import dev.kiln.ops.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;

import java.lang.foreign.MemorySegment;

/**
 * One long contiguous row reduced by several threads: each chunk computes a partial with the row
 * kernels of {@link CpuReduce#row}, then the partials are combined (two-pass ops such as var and
 * logsumexp run both passes chunked).
 */
final class ReduceSplit {
    private ReduceSplit() {}

    private interface Part { double of(long start, int len); }

    /**
     * Per-chunk partials over [0, n) of the row at xi. The chunks (up to 8, at least 16K elements
     * each) depend on n only, not on the thread count, so neither does the combined result.
     */
    private static double[] partials(int n, long xi, Part f) {
        int chunks = Math.max(1, Math.min(8, n / 16_384));
        double[] out = new double[chunks];
        int len = (n + chunks - 1) / chunks;
        Parallel.forChunks(chunks, Math.min(chunks, CpuConfig.threads()), (s, e) -> {
            for (int c = s; c < e; c++) {
                int start = c * len;
                out[c] = f.of(xi + start, Math.min(len, n - start));
            }
        });
        return out;
    }

    static double row(ReduceOp op, DType t, MemorySegment x, long xi, int n, double param) {
        return switch (op) {
            case SUM -> sum(partials(n, xi, (s, l) -> CpuReduce.row(ReduceOp.SUM, t, x, s, l, 0)));
            case MEAN -> sum(partials(n, xi, (s, l) -> CpuReduce.row(ReduceOp.SUM, t, x, s, l, 0))) / n;
            case PROD -> {
                double r = 1;
                for (double v : partials(n, xi, (s, l) -> CpuReduce.row(ReduceOp.PROD, t, x, s, l, 0))) r *= v;
                yield t == DType.F32 ? (float) r : r;
            }
            case MAX, MIN -> extreme(op == ReduceOp.MAX, partials(n, xi, (s, l) -> CpuReduce.row(op, t, x, s, l, 0)));
            case VAR -> {
                double mean = sum(partials(n, xi, (s, l) -> CpuReduce.row(ReduceOp.SUM, t, x, s, l, 0))) / n;
                double m = t == DType.F32 ? (float) mean : mean;
                yield sum(partials(n, xi, (s, l) -> t == DType.F32 ? ReduceRowF32.sumSqDev(x, s, l, (float) m)
                        : ReduceRowF64.sumSqDev(x, s, l, m))) / Math.max(0, n - param);
            }
            case LOGSUMEXP -> {
                double m = extreme(true, partials(n, xi, (s, l) -> CpuReduce.row(ReduceOp.MAX, t, x, s, l, 0)));
                if (Double.isInfinite(m) || Double.isNaN(m)) yield m;
                yield m + Math.log(sum(partials(n, xi, (s, l) -> t == DType.F32 ? ReduceRowF32.sumExp(x, s, l, (float) m)
                        : ReduceRowF64.sumExp(x, s, l, m))));
            }
            case ARGMAX, ARGMIN -> arg(op, t, x, xi, n);
        };
    }

    private static double sum(double[] p) {
        double s = 0;
        for (double v : p) s += v;
        return s;
    }

    /** Max or min of the partials, NaN-propagating. */
    private static double extreme(boolean max, double[] p) {
        double r = p[0];
        for (double v : p) r = max ? Math.max(r, v) : Math.min(r, v);
        return r;
    }

    /** Each chunk finds its first extreme; the earliest chunk holding the overall extreme (or a NaN) wins. */
    private static double arg(ReduceOp op, DType t, MemorySegment x, long xi, int n) {
        boolean max = op == ReduceOp.ARGMAX;
        double[] idx = partials(n, xi, (s, l) -> (s - xi) + CpuReduce.row(op, t, x, s, l, 0));
        double bestV = 0;
        long best = -1;
        for (int c = 0; c < idx.length; c++) {
            long i = (long) idx[c];
            double v = t == DType.F32 ? x.getAtIndex(Storage.F32, xi + i) : x.getAtIndex(Storage.F64, xi + i);
            if (best < 0 || Double.isNaN(v) && !Double.isNaN(bestV) || (max ? v > bestV : v < bestV)) {
                bestV = v;
                best = i;
            }
        }
        return best;
    }
}
