package dev.kiln.backend.cpu;

import dev.kiln.ops.ReduceOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;

/**
 * Scalar reductions for any layout and dtype: the scalar twin of the vector paths (float types,
 * computed in double in row-major order) and the only path for integer and bool types (exact long
 * arithmetic, wrapping like PyTorch). Each output walks its reduced elements with an odometer.
 */
final class ReduceScalar {
    private ReduceScalar() {}

    /** Reduces every output of the plan; out has dtype outType (I64 for ARGMAX/ARGMIN). */
    static void run(ReduceOp op, DType t, Storage x, Storage out, DType outType, ReducePlan p, double param) {
        boolean ints = !t.isFloating();
        Parallel.forRange((int) p.nOut, p.nRed, (s, e) -> {
            for (int j = s; j < e; j++) {
                long xo = p.xOffset(j), oo = p.outOffset(j);
                if (op == ReduceOp.ARGMAX || op == ReduceOp.ARGMIN)
                    out.setLong(DType.I64, oo, ints ? argLong(op, t, x, xo, p) : argDouble(op, t, x, xo, p));
                else if (ints && op != ReduceOp.MEAN && op != ReduceOp.VAR && op != ReduceOp.LOGSUMEXP)
                    out.setLong(outType, oo, reduceLong(op, t, x, xo, p));
                else
                    out.setDouble(outType, oo, reduceDouble(op, t, x, xo, p, param));
            }
        });
    }

    /** Walks reduced-element offsets in row-major order. */
    static final class Odometer {
        private final ReducePlan p;
        private final int[] idx;
        long off;

        Odometer(ReducePlan p) {
            this.p = p;
            this.idx = new int[p.red.length];
        }

        /** Advances to the next reduced element (no-op past the end). */
        void next() {
            for (int d = idx.length - 1; d >= 0; d--) {
                off += p.redX[d];
                if (++idx[d] < p.red[d]) return;
                off -= p.redX[d] * p.red[d];
                idx[d] = 0;
            }
        }
    }

    static double reduceDouble(ReduceOp op, DType t, Storage x, long xo, ReducePlan p, double param) {
        long n = p.nRed;
        return switch (op) {
            case SUM -> sum(t, x, xo, p, 0);
            case MEAN -> sum(t, x, xo, p, 0) / n;
            case PROD -> {
                double r = 1;
                Odometer o = new Odometer(p);
                for (long i = 0; i < n; i++, o.next()) r *= x.getDouble(t, xo + o.off);
                yield r;
            }
            case MAX, MIN -> {
                double r = op == ReduceOp.MAX ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
                Odometer o = new Odometer(p);
                for (long i = 0; i < n; i++, o.next()) {
                    double v = x.getDouble(t, xo + o.off);
                    r = op == ReduceOp.MAX ? Math.max(r, v) : Math.min(r, v);
                }
                yield r;
            }
            case VAR -> {
                double mean = sum(t, x, xo, p, 0) / n;
                double ss = 0;
                Odometer o = new Odometer(p);
                for (long i = 0; i < n; i++, o.next()) {
                    double d = x.getDouble(t, xo + o.off) - mean;
                    ss += d * d;
                }
                yield ss / Math.max(0, n - param);
            }
            case LOGSUMEXP -> {
                double m = reduceDouble(ReduceOp.MAX, t, x, xo, p, 0);
                if (Double.isInfinite(m) || Double.isNaN(m)) yield m;
                double s = 0;
                Odometer o = new Odometer(p);
                for (long i = 0; i < n; i++, o.next()) s += Math.exp(x.getDouble(t, xo + o.off) - m);
                yield m + Math.log(s);
            }
            default -> throw new IllegalStateException(op.name());
        };
    }

    private static double sum(DType t, Storage x, long xo, ReducePlan p, double init) {
        double r = init;
        Odometer o = new Odometer(p);
        for (long i = 0; i < p.nRed; i++, o.next()) r += x.getDouble(t, xo + o.off);
        return r;
    }

    /** SUM, PROD, MAX, MIN on integer / bool elements. */
    static long reduceLong(ReduceOp op, DType t, Storage x, long xo, ReducePlan p) {
        long r = switch (op) {
            case SUM -> 0;
            case PROD -> 1;
            case MAX -> Long.MIN_VALUE;
            case MIN -> Long.MAX_VALUE;
            default -> throw new IllegalArgumentException(op.name().toLowerCase() + ": not supported for " + t.pyName());
        };
        Odometer o = new Odometer(p);
        for (long i = 0; i < p.nRed; i++, o.next()) {
            long v = x.getLong(t, xo + o.off);
            r = switch (op) {
                case SUM -> r + v;
                case PROD -> r * v;
                case MAX -> Math.max(r, v);
                default -> Math.min(r, v);
            };
        }
        return r;
    }

    /** First index of the max (min); a NaN counts as the extreme. */
    static long argDouble(ReduceOp op, DType t, Storage x, long xo, ReducePlan p) {
        boolean max = op == ReduceOp.ARGMAX;
        double best = x.getDouble(t, xo);
        long at = 0;
        Odometer o = new Odometer(p);
        o.next();
        for (long i = 1; i < p.nRed && !Double.isNaN(best); i++, o.next()) {
            double v = x.getDouble(t, xo + o.off);
            if (Double.isNaN(v) || (max ? v > best : v < best)) {
                best = v;
                at = i;
            }
        }
        return at;
    }

    static long argLong(ReduceOp op, DType t, Storage x, long xo, ReducePlan p) {
        boolean max = op == ReduceOp.ARGMAX;
        long best = x.getLong(t, xo), at = 0;
        Odometer o = new Odometer(p);
        o.next();
        for (long i = 1; i < p.nRed; i++, o.next()) {
            long v = x.getLong(t, xo + o.off);
            if (max ? v > best : v < best) {
                best = v;
                at = i;
            }
        }
        return at;
    }
}
