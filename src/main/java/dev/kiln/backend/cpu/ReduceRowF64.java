package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * Float64 twin of {@link ReduceRowF32}: same structure and row pieces (the blocked sums are
 * plain double sums here).
 */
final class ReduceRowF64 {
    private ReduceRowF64() {}

    private static final VectorSpecies<Double> S = CpuConfig.F64;
    private static final int L = S.length();
    /** Vector iterations (of 4 vectors) per double block before its sum moves to double. */
    private static final int FLUSH = Math.max(1, 1024 / (4 * L));

    static DoubleVector ld(MemorySegment x, long i) { return ElemUnary.ldD(x, i); }
    static double get(MemorySegment x, long i) { return x.getAtIndex(Storage.F64, i); }

    /** Sum of the lanes in lane order, in double ({@link Lanes#sum}: never reduceLanes, whose order changes once C2 compiles). */
    static double sumLanes(DoubleVector v) { return Lanes.sum(v); }

    /** Product of the lanes in lane order ({@link Lanes#prod}). */
    static double prodLanes(DoubleVector v) { return Lanes.prod(v); }

    /** Sum of the row, blocked (see class comment). */
    static double sum(MemorySegment x, long xi, int n) {
        DoubleVector a0 = DoubleVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        double total = 0;
        int i = 0, k = 0;
        for (int up = n - n % (4 * L); i < up; i += 4 * L) {
            a0 = a0.add(ld(x, xi + i));
            a1 = a1.add(ld(x, xi + i + L));
            a2 = a2.add(ld(x, xi + i + 2 * L));
            a3 = a3.add(ld(x, xi + i + 3 * L));
            if (++k == FLUSH) {
                total += sumLanes(a0.add(a1).add(a2.add(a3)));
                a0 = DoubleVector.zero(S);
                a1 = a0;
                a2 = a0;
                a3 = a0;
                k = 0;
            }
        }
        total += sumLanes(a0.add(a1).add(a2.add(a3)));
        for (; i < n; i++) total += get(x, xi + i);
        return total;
    }

    /** Sum of (x - mean)^2, blocked like {@link #sum}. */
    static double sumSqDev(MemorySegment x, long xi, int n, double mean) {
        DoubleVector a0 = DoubleVector.zero(S), a1 = a0, m = DoubleVector.broadcast(S, mean);
        double total = 0;
        int i = 0, k = 0;
        for (int up = n - n % (2 * L); i < up; i += 2 * L) {
            DoubleVector d0 = ld(x, xi + i).sub(m), d1 = ld(x, xi + i + L).sub(m);
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
            if (++k == 2 * FLUSH) {
                total += sumLanes(a0.add(a1));
                a0 = DoubleVector.zero(S);
                a1 = a0;
                k = 0;
            }
        }
        total += sumLanes(a0.add(a1));
        for (; i < n; i++) {
            double d = get(x, xi + i) - mean;
            total += d * d;
        }
        return total;
    }

    /** Max with NaN propagation (Math.max semantics, as torch.max). */
    static double max(MemorySegment x, long xi, int n) {
        double r = Double.NEGATIVE_INFINITY;
        int i = 0;
        if (n >= 4 * L) {
            DoubleVector a0 = ld(x, xi), a1 = a0, a2 = a0, a3 = a0;
            for (int up = n - n % (4 * L); i < up; i += 4 * L) {
                a0 = a0.max(ld(x, xi + i));
                a1 = a1.max(ld(x, xi + i + L));
                a2 = a2.max(ld(x, xi + i + 2 * L));
                a3 = a3.max(ld(x, xi + i + 3 * L));
            }
            r = a0.max(a1).max(a2.max(a3)).reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) r = Math.max(r, get(x, xi + i));
        return r;
    }

    /** Min with NaN propagation. */
    static double min(MemorySegment x, long xi, int n) {
        double r = Double.POSITIVE_INFINITY;
        int i = 0;
        if (n >= 4 * L) {
            DoubleVector a0 = ld(x, xi), a1 = a0, a2 = a0, a3 = a0;
            for (int up = n - n % (4 * L); i < up; i += 4 * L) {
                a0 = a0.min(ld(x, xi + i));
                a1 = a1.min(ld(x, xi + i + L));
                a2 = a2.min(ld(x, xi + i + 2 * L));
                a3 = a3.min(ld(x, xi + i + 3 * L));
            }
            r = a0.min(a1).min(a2.min(a3)).reduceLanes(VectorOperators.MIN);
        }
        for (; i < n; i++) r = Math.min(r, get(x, xi + i));
        return r;
    }

    /** Product (double lanes, like a double reduction in PyTorch). */
    static double prod(MemorySegment x, long xi, int n) {
        DoubleVector a0 = DoubleVector.broadcast(S, 1.0), a1 = a0;
        int i = 0;
        for (int up = n - n % (2 * L); i < up; i += 2 * L) {
            a0 = a0.mul(ld(x, xi + i));
            a1 = a1.mul(ld(x, xi + i + L));
        }
        double r = prodLanes(a0.mul(a1));
        for (; i < n; i++) r *= get(x, xi + i);
        return r;
    }

    /** Sum of e^(x - m). */
    static double sumExp(MemorySegment x, long xi, int n, double m) {
        DoubleVector a = DoubleVector.zero(S), mv = DoubleVector.broadcast(S, m);
        double total = 0;
        int i = 0, k = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            a = a.add(ElemVecF64.exp(ld(x, xi + i).sub(mv)));
            if (++k == 4 * FLUSH) {
                total += sumLanes(a);
                a = DoubleVector.zero(S);
                k = 0;
            }
        }
        total += sumLanes(a);
        for (; i < n; i++) total += Math.exp(get(x, xi + i) - m);
        return total;
    }

    /** log sum exp, stable: m + log(sum e^(x - m)); an infinite or NaN max is the result itself. */
    static double logSumExp(MemorySegment x, long xi, int n) {
        double m = max(x, xi, n);
        if (Double.isInfinite(m) || Double.isNaN(m)) return m;
        return m + Math.log(sumExp(x, xi, n, m));
    }

    /** Index of the first max (ARGMAX) or min; a NaN counts as the extreme (first NaN wins). */
    static int argExtreme(MemorySegment x, long xi, int n, boolean isMax) {
        double e = isMax ? max(x, xi, n) : min(x, xi, n);
        boolean nan = Double.isNaN(e);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            DoubleVector v = ld(x, xi + i);
            var hit = nan ? v.test(VectorOperators.IS_NAN) : v.compare(VectorOperators.EQ, e);
            if (hit.anyTrue()) return i + hit.firstTrue();
        }
        for (; i < n; i++) {
            double v = get(x, xi + i);
            if (nan ? Double.isNaN(v) : v == e) return i;
        }
        return 0;
    }

    // ------------------------------------------------------------------ softmax / layer norm rows

    /** o = e^(x - m); returns the sum of o. */
    static double expSubStore(MemorySegment x, long xi, MemorySegment o, long oi, int n, double m) {
        DoubleVector a = DoubleVector.zero(S), mv = DoubleVector.broadcast(S, m);
        double total = 0;
        int i = 0, k = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            DoubleVector e = ElemVecF64.exp(ld(x, xi + i).sub(mv));
            ElemUnary.stD(e, o, oi + i);
            a = a.add(e);
            if (++k == 4 * FLUSH) {
                total += sumLanes(a);
                a = DoubleVector.zero(S);
                k = 0;
            }
        }
        total += sumLanes(a);
        for (; i < n; i++) {
            double e = Math.exp(get(x, xi + i) - m);
            o.setAtIndex(Storage.F64, oi + i, e);
            total += e;
        }
        return total;
    }

    /** o = o * s, in place. */
    static void scale(MemorySegment o, long oi, int n, double s) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) ElemUnary.stD(ld(o, oi + i).mul(s), o, oi + i);
        for (; i < n; i++) o.setAtIndex(Storage.F64, oi + i, get(o, oi + i) * s);
    }

    /** o = (x - m) - c: log-softmax, x - m first so that large x lose nothing. */
    static void subConst(MemorySegment x, long xi, MemorySegment o, long oi, int n, double m, double c) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) ElemUnary.stD(ld(x, xi + i).sub(m).sub(c), o, oi + i);
        for (; i < n; i++) o.setAtIndex(Storage.F64, oi + i, (get(x, xi + i) - m) - c);
    }

    /**
     * o = (x - mean) * rstd * w + b, with w, b contiguous rows of length n; the mean is given as
     * hi + lo (lo the rounding error of hi) so that rows with a large offset stay accurate.
     */
    static void normalize(MemorySegment x, long xi, MemorySegment o, long oi, int n, double meanHi, double meanLo, double rstd,
                          MemorySegment w, long wi, MemorySegment b, long bi) {
        int i = 0;
        DoubleVector mh = DoubleVector.broadcast(S, meanHi), ml = DoubleVector.broadcast(S, meanLo), rv = DoubleVector.broadcast(S, rstd);
        for (int up = S.loopBound(n); i < up; i += L)
            ElemUnary.stD(ld(x, xi + i).sub(mh).sub(ml).mul(rv).fma(ld(w, wi + i), ld(b, bi + i)), o, oi + i);
        for (; i < n; i++)
            o.setAtIndex(Storage.F64, oi + i, ((get(x, xi + i) - meanHi) - meanLo) * rstd * get(w, wi + i) + get(b, bi + i));
    }

    // ------------------------------------------------------------------ outer-axis accumulation

    /** acc[0..n) (op)= x row, op one of SUM (add), PROD (mul), MAX, MIN. */
    static void accumulate(int op, MemorySegment acc, MemorySegment x, long xi, int n) {
        // one loop per op, the switch outside it: inside, C2 hoists it as a profiled predicate and
        // every call with another op traps and recompiles (see ElemBinary.vvF32)
        int i = S.loopBound(n);
        switch (op) {
            case 0 -> { for (int j = 0; j < i; j += L) ElemUnary.stD(ld(acc, j).add(ld(x, xi + j)), acc, j); }
            case 1 -> { for (int j = 0; j < i; j += L) ElemUnary.stD(ld(acc, j).mul(ld(x, xi + j)), acc, j); }
            case 2 -> { for (int j = 0; j < i; j += L) ElemUnary.stD(ld(acc, j).max(ld(x, xi + j)), acc, j); }
            default -> { for (int j = 0; j < i; j += L) ElemUnary.stD(ld(acc, j).min(ld(x, xi + j)), acc, j); }
        }
        for (; i < n; i++) {
            double a = get(acc, i), v = get(x, xi + i);
            acc.setAtIndex(Storage.F64, i, switch (op) {
                case 0 -> a + v;
                case 1 -> a * v;
                case 2 -> Math.max(a, v);
                default -> Math.min(a, v);
            });
        }
    }

    /** acc += (x - mean)^2, per column (mean a row of n). */
    static void sqDevAcc(MemorySegment acc, MemorySegment x, long xi, MemorySegment mean, int n) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            DoubleVector d = ld(x, xi + i).sub(ld(mean, i));
            ElemUnary.stD(d.fma(d, ld(acc, i)), acc, i);
        }
        for (; i < n; i++) {
            double d = get(x, xi + i) - get(mean, i);
            acc.setAtIndex(Storage.F64, i, get(acc, i) + d * d);
        }
    }

    /** acc += e^(x - m), per column; with o != null also o = e^(x - m) (softmax along an outer axis). */
    static void expSubAcc(MemorySegment acc, MemorySegment x, long xi, MemorySegment m, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            DoubleVector e = ElemVecF64.exp(ld(x, xi + i).sub(ld(m, i)));
            if (o != null) ElemUnary.stD(e, o, oi + i);
            ElemUnary.stD(ld(acc, i).add(e), acc, i);
        }
        for (; i < n; i++) {
            double e = Math.exp(get(x, xi + i) - get(m, i));
            if (o != null) o.setAtIndex(Storage.F64, oi + i, e);
            acc.setAtIndex(Storage.F64, i, get(acc, i) + e);
        }
    }

    /**
     * Column-wise arg-extreme update with row r: where x beats best (or is the first NaN),
     * best = x and idx = r (indices kept as exact doubles).
     */
    static void argAcc(MemorySegment best, MemorySegment idx, MemorySegment x, long xi, int n, int r, boolean isMax) {
        int i = 0;
        DoubleVector rv = DoubleVector.broadcast(S, r);
        for (int up = S.loopBound(n); i < up; i += L) {
            DoubleVector v = ld(x, xi + i), b = ld(best, i);
            var win = (isMax ? v.compare(VectorOperators.GT, b) : v.compare(VectorOperators.LT, b))
                    .or(v.test(VectorOperators.IS_NAN).andNot(b.test(VectorOperators.IS_NAN)));
            ElemUnary.stD(b.blend(v, win), best, i);
            ElemUnary.stD(ld(idx, i).blend(rv, win), idx, i);
        }
        for (; i < n; i++) {
            double v = get(x, xi + i), b = get(best, i);
            if ((isMax ? v > b : v < b) || (Double.isNaN(v) && !Double.isNaN(b))) {
                best.setAtIndex(Storage.F64, i, v);
                idx.setAtIndex(Storage.F64, i, r);
            }
        }
    }

    /** o = o * s, per column (s a row of n). */
    static void mulRow(MemorySegment o, long oi, MemorySegment s, int n) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) ElemUnary.stD(ld(o, oi + i).mul(ld(s, i)), o, oi + i);
        for (; i < n; i++) o.setAtIndex(Storage.F64, oi + i, get(o, oi + i) * get(s, i));
    }

    /** o = (x - m) - c, per column (m, c rows of n): log-softmax along an outer axis. */
    static void subSubRow(MemorySegment x, long xi, MemorySegment m, MemorySegment c, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L)
            ElemUnary.stD(ld(x, xi + i).sub(ld(m, i)).sub(ld(c, i)), o, oi + i);
        for (; i < n; i++) o.setAtIndex(Storage.F64, oi + i, (get(x, xi + i) - get(m, i)) - get(c, i));
    }
}
