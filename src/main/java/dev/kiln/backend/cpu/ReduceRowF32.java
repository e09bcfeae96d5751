package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * Float32 reductions of one contiguous row x[xi .. xi+n) (element offsets): vector bodies with
 * four accumulators and a scalar tail, lanes reduced once at the end. Sums are blocked: each
 * 1024-element block is summed in float lanes and the block sums are added in double, so a
 * 1M-element sum keeps ~1e-7 relative accuracy. Also the row pieces of softmax and layer norm.
 */
final class ReduceRowF32 {
    private ReduceRowF32() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final int L = S.length();
    /** Vector iterations (of 4 vectors) per float block before its sum moves to double. */
    private static final int FLUSH = Math.max(1, 1024 / (4 * L));

    static FloatVector ld(MemorySegment x, long i) { return ElemUnary.ldF(x, i); }
    static float get(MemorySegment x, long i) { return x.getAtIndex(Storage.F32, i); }


    /** Sum of the lanes in lane order, in double ({@link Lanes#sum}: never reduceLanes, whose order changes once C2 compiles). */
    static double sumLanes(FloatVector v) { return Lanes.sum(v); }

    /** Product of the lanes in lane order ({@link Lanes#prod}). */
    static float prodLanes(FloatVector v) { return Lanes.prod(v); }

    /** Rows at least this long are summed as {@value #STRIPES} stripes read side by side. */
    static final int STRIPED_MIN = 1 << 16;
    static final int STRIPES = 4;

    /**
     * Sum of the row, blocked (see class comment). A long row is cut into {@value #STRIPES} equal
     * stripes (multiples of 4 vectors) read side by side, each with its own accumulator, and the
     * stripe sums are added in stripe order: one core then keeps several streams of misses in
     * flight instead of one. Measured on Zen 4, 64 MB in 2 MiB pages, C: 37-41 GB/s with four
     * streams, 35 with eight, 16-20 with one (with 4 KiB pages eight did best, 32 against 28-30;
     * tensors that large now get 2 MiB pages, see HostAllocator). The cut depends on n only, so the
     * result does not depend on the thread count or the JIT. Where the native library is loaded the
     * stripes are read by {@link ElemStream#sumStripes} (the same sums bit for bit).
     */
    static double sum(MemorySegment x, long xi, int n) {
        if (n < STRIPED_MIN) return sumBlocked(x, xi, n);
        int stripe = n / STRIPES / (4 * L) * (4 * L);
        // blocks of 2 FLUSH vector pairs per stripe and call: a short method the JIT compiles by its
        // call count (a single call over the whole stripe ran for seconds in C1's vector boxing
        // before on-stack replacement reached C2)
        int block = 2 * FLUSH * 2 * L;
        double total;
        if (ElemStream.canSum(x)) total = ElemStream.sumStripes(x, xi, stripe, block);
        else {
            double[] part = new double[STRIPES];
            for (int off = 0; off < stripe; off += block) sumStripes(x, xi + off, stripe, Math.min(block, stripe - off), part);
            total = 0;
            for (double p : part) total += p;
        }
        return total + sumBlocked(x, xi + (long) STRIPES * stripe, n - STRIPES * stripe);
    }

    /**
     * part[s] += sum of x[xi + s*stride, + len) for the four stripes s < 4, read in one loop (one
     * accumulator per stripe); len % L == 0.
     */
    private static void sumStripes(MemorySegment x, long xi, int stride, int len, double[] part) {
        FloatVector a = FloatVector.zero(S), b = a, c = a, d = a;
        long st = stride;
        for (int i = 0; i < len; i += L) {
            long o = xi + i;
            a = a.add(ld(x, o));
            b = b.add(ld(x, o + st));
            c = c.add(ld(x, o + 2 * st));
            d = d.add(ld(x, o + 3 * st));
        }
        part[0] += sumLanes(a);
        part[1] += sumLanes(b);
        part[2] += sumLanes(c);
        part[3] += sumLanes(d);
    }

    private static double sumBlocked(MemorySegment x, long xi, int n) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        double total = 0;
        int i = 0, k = 0;
        for (int up = n - n % (4 * L); i < up; i += 4 * L) {
            a0 = a0.add(ld(x, xi + i));
            a1 = a1.add(ld(x, xi + i + L));
            a2 = a2.add(ld(x, xi + i + 2 * L));
            a3 = a3.add(ld(x, xi + i + 3 * L));
            if (++k == FLUSH) {
                total += sumLanes(a0.add(a1).add(a2.add(a3)));
                a0 = FloatVector.zero(S);
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

    /**
     * Sums of d = x - m and of d^2 in one pass; returns sum d, stores sum d^2 in sq[0]. With m near
     * the mean, m + sum d / n is the mean to float rounding even for rows with a large offset, and
     * (sum d^2 - (sum d)^2 / n) / n the (biased) variance.
     */
    static double sumDev(MemorySegment x, long xi, int n, float m, double[] sq) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, q0 = a0, q1 = a0, mv = FloatVector.broadcast(S, m);
        double total = 0, squares = 0;
        int i = 0, k = 0;
        for (int up = n - n % (2 * L); i < up; i += 2 * L) {
            FloatVector d0 = ld(x, xi + i).sub(mv), d1 = ld(x, xi + i + L).sub(mv);
            a0 = a0.add(d0);
            a1 = a1.add(d1);
            q0 = d0.fma(d0, q0);
            q1 = d1.fma(d1, q1);
            if (++k == 2 * FLUSH) {
                total += sumLanes(a0.add(a1));
                squares += sumLanes(q0.add(q1));
                a0 = FloatVector.zero(S);
                a1 = a0;
                q0 = a0;
                q1 = a0;
                k = 0;
            }
        }
        total += sumLanes(a0.add(a1));
        squares += sumLanes(q0.add(q1));
        for (; i < n; i++) {
            double d = get(x, xi + i) - m;
            total += d;
            squares += d * d;
        }
        sq[0] = squares;
        return total;
    }

    /** Sum of (x - mean)^2, blocked like {@link #sum}. */
    static double sumSqDev(MemorySegment x, long xi, int n, float mean) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, m = FloatVector.broadcast(S, mean);
        double total = 0;
        int i = 0, k = 0;
        for (int up = n - n % (2 * L); i < up; i += 2 * L) {
            FloatVector d0 = ld(x, xi + i).sub(m), d1 = ld(x, xi + i + L).sub(m);
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
            if (++k == 2 * FLUSH) {
                total += sumLanes(a0.add(a1));
                a0 = FloatVector.zero(S);
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
    static float max(MemorySegment x, long xi, int n) {
        float r = Float.NEGATIVE_INFINITY;
        int i = 0;
        if (n >= 4 * L) {
            FloatVector a0 = ld(x, xi), a1 = a0, a2 = a0, a3 = a0;
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
    static float min(MemorySegment x, long xi, int n) {
        float r = Float.POSITIVE_INFINITY;
        int i = 0;
        if (n >= 4 * L) {
            FloatVector a0 = ld(x, xi), a1 = a0, a2 = a0, a3 = a0;
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

    /** Product (float lanes, like a float reduction in PyTorch). */
    static float prod(MemorySegment x, long xi, int n) {
        FloatVector a0 = FloatVector.broadcast(S, 1f), a1 = a0;
        int i = 0;
        for (int up = n - n % (2 * L); i < up; i += 2 * L) {
            a0 = a0.mul(ld(x, xi + i));
            a1 = a1.mul(ld(x, xi + i + L));
        }
        float r = prodLanes(a0.mul(a1));
        for (; i < n; i++) r *= get(x, xi + i);
        return r;
    }

    /** Sum of e^(x - m). */
    static double sumExp(MemorySegment x, long xi, int n, float m) {
        FloatVector a = FloatVector.zero(S), mv = FloatVector.broadcast(S, m);
        double total = 0;
        int i = 0, k = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            a = a.add(ElemVecF32.exp(ld(x, xi + i).sub(mv)));
            if (++k == 4 * FLUSH) {
                total += sumLanes(a);
                a = FloatVector.zero(S);
                k = 0;
            }
        }
        total += sumLanes(a);
        for (; i < n; i++) total += Math.exp(get(x, xi + i) - (double) m);
        return total;
    }

    /** log sum exp, stable: m + log(sum e^(x - m)); an infinite or NaN max is the result itself. */
    static double logSumExp(MemorySegment x, long xi, int n) {
        float m = max(x, xi, n);
        if (Float.isInfinite(m) || Float.isNaN(m)) return m;
        return m + Math.log(sumExp(x, xi, n, m));
    }

    /** Index of the first max (ARGMAX) or min; a NaN counts as the extreme (first NaN wins). */
    static int argExtreme(MemorySegment x, long xi, int n, boolean isMax) {
        float e = isMax ? max(x, xi, n) : min(x, xi, n);
        boolean nan = Float.isNaN(e);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            FloatVector v = ld(x, xi + i);
            var hit = nan ? v.test(VectorOperators.IS_NAN) : v.compare(VectorOperators.EQ, e);
            if (hit.anyTrue()) return i + hit.firstTrue();
        }
        for (; i < n; i++) {
            float v = get(x, xi + i);
            if (nan ? Float.isNaN(v) : v == e) return i;
        }
        return 0;
    }

    // ------------------------------------------------------------------ softmax / layer norm rows

    /** o = e^(x - m); returns the sum of o. */
    static double expSubStore(MemorySegment x, long xi, MemorySegment o, long oi, int n, float m) {
        FloatVector a = FloatVector.zero(S), mv = FloatVector.broadcast(S, m);
        double total = 0;
        int i = 0, k = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            FloatVector e = ElemVecF32.exp(ld(x, xi + i).sub(mv));
            ElemUnary.stF(e, o, oi + i);
            a = a.add(e);
            if (++k == 4 * FLUSH) {
                total += sumLanes(a);
                a = FloatVector.zero(S);
                k = 0;
            }
        }
        total += sumLanes(a);
        for (; i < n; i++) {
            float e = (float) Math.exp(get(x, xi + i) - (double) m);
            o.setAtIndex(Storage.F32, oi + i, e);
            total += e;
        }
        return total;
    }

    /** o = o * s, in place. */
    static void scale(MemorySegment o, long oi, int n, float s) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) ElemUnary.stF(ld(o, oi + i).mul(s), o, oi + i);
        for (; i < n; i++) o.setAtIndex(Storage.F32, oi + i, get(o, oi + i) * s);
    }

    /** o = (x - m) - c: log-softmax, x - m first so that large x lose nothing. */
    static void subConst(MemorySegment x, long xi, MemorySegment o, long oi, int n, float m, float c) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) ElemUnary.stF(ld(x, xi + i).sub(m).sub(c), o, oi + i);
        for (; i < n; i++) o.setAtIndex(Storage.F32, oi + i, (get(x, xi + i) - m) - c);
    }

    /**
     * o = (x - mean) * rstd * w + b, with w, b contiguous rows of length n; the mean is given as
     * hi + lo (lo the rounding error of hi) so that rows with a large offset stay accurate.
     */
    static void normalize(MemorySegment x, long xi, MemorySegment o, long oi, int n, float meanHi, float meanLo, float rstd,
                          MemorySegment w, long wi, MemorySegment b, long bi) {
        int i = 0;
        FloatVector mh = FloatVector.broadcast(S, meanHi), ml = FloatVector.broadcast(S, meanLo), rv = FloatVector.broadcast(S, rstd);
        for (int up = S.loopBound(n); i < up; i += L)
            ElemUnary.stF(ld(x, xi + i).sub(mh).sub(ml).mul(rv).fma(ld(w, wi + i), ld(b, bi + i)), o, oi + i);
        for (; i < n; i++)
            o.setAtIndex(Storage.F32, oi + i, ((get(x, xi + i) - meanHi) - meanLo) * rstd * get(w, wi + i) + get(b, bi + i));
    }

    // ------------------------------------------------------------------ outer-axis accumulation

    /** acc[0..n) (op)= x row, op one of SUM (add), PROD (mul), MAX, MIN. */
    static void accumulate(int op, MemorySegment acc, MemorySegment x, long xi, int n) {
        // one loop per op, the switch outside it: inside, C2 hoists it as a profiled predicate and
        // every call with another op traps and recompiles (see ElemBinary.vvF32)
        int i = S.loopBound(n);
        switch (op) {
            case 0 -> { for (int j = 0; j < i; j += L) ElemUnary.stF(ld(acc, j).add(ld(x, xi + j)), acc, j); }
            case 1 -> { for (int j = 0; j < i; j += L) ElemUnary.stF(ld(acc, j).mul(ld(x, xi + j)), acc, j); }
            case 2 -> { for (int j = 0; j < i; j += L) ElemUnary.stF(ld(acc, j).max(ld(x, xi + j)), acc, j); }
            default -> { for (int j = 0; j < i; j += L) ElemUnary.stF(ld(acc, j).min(ld(x, xi + j)), acc, j); }
        }
        for (; i < n; i++) {
            float a = get(acc, i), v = get(x, xi + i);
            acc.setAtIndex(Storage.F32, i, switch (op) {
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
            FloatVector d = ld(x, xi + i).sub(ld(mean, i));
            ElemUnary.stF(d.fma(d, ld(acc, i)), acc, i);
        }
        for (; i < n; i++) {
            float d = get(x, xi + i) - get(mean, i);
            acc.setAtIndex(Storage.F32, i, get(acc, i) + d * d);
        }
    }

    /** acc += e^(x - m), per column; with o != null also o = e^(x - m) (softmax along an outer axis). */
    static void expSubAcc(MemorySegment acc, MemorySegment x, long xi, MemorySegment m, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) {
            FloatVector e = ElemVecF32.exp(ld(x, xi + i).sub(ld(m, i)));
            if (o != null) ElemUnary.stF(e, o, oi + i);
            ElemUnary.stF(ld(acc, i).add(e), acc, i);
        }
        for (; i < n; i++) {
            float e = (float) Math.exp(get(x, xi + i) - (double) get(m, i));
            if (o != null) o.setAtIndex(Storage.F32, oi + i, e);
            acc.setAtIndex(Storage.F32, i, get(acc, i) + e);
        }
    }

    /**
     * Column-wise arg-extreme update with row r: where x beats best (or is the first NaN),
     * best = x and idx = r (indices kept as exact floats, r < 2^24).
     */
    static void argAcc(MemorySegment best, MemorySegment idx, MemorySegment x, long xi, int n, int r, boolean isMax) {
        int i = 0;
        FloatVector rv = FloatVector.broadcast(S, r);
        for (int up = S.loopBound(n); i < up; i += L) {
            FloatVector v = ld(x, xi + i), b = ld(best, i);
            var win = (isMax ? v.compare(VectorOperators.GT, b) : v.compare(VectorOperators.LT, b))
                    .or(v.test(VectorOperators.IS_NAN).andNot(b.test(VectorOperators.IS_NAN)));
            ElemUnary.stF(b.blend(v, win), best, i);
            ElemUnary.stF(ld(idx, i).blend(rv, win), idx, i);
        }
        for (; i < n; i++) {
            float v = get(x, xi + i), b = get(best, i);
            if ((isMax ? v > b : v < b) || (Float.isNaN(v) && !Float.isNaN(b))) {
                best.setAtIndex(Storage.F32, i, v);
                idx.setAtIndex(Storage.F32, i, r);
            }
        }
    }

    /** o = o * s, per column (s a row of n). */
    static void mulRow(MemorySegment o, long oi, MemorySegment s, int n) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) ElemUnary.stF(ld(o, oi + i).mul(ld(s, i)), o, oi + i);
        for (; i < n; i++) o.setAtIndex(Storage.F32, oi + i, get(o, oi + i) * get(s, i));
    }

    /** o = (x - m) - c, per column (m, c rows of n): log-softmax along an outer axis. */
    static void subSubRow(MemorySegment x, long xi, MemorySegment m, MemorySegment c, MemorySegment o, long oi, int n) {
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L)
            ElemUnary.stF(ld(x, xi + i).sub(ld(m, i)).sub(ld(c, i)), o, oi + i);
        for (; i < n; i++) o.setAtIndex(Storage.F32, oi + i, (get(x, xi + i) - get(m, i)) - get(c, i));
    }
}
