package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Normalization backward kernels. Softmax over the last dim: dx = y (g - sum(g y)), log-softmax:
 * dx = g - e^y sum(g), each a reduction and a write pass per row. Layer norm backward in two passes per row instead of a dozen tensor ops: mean and rstd are
 * recomputed from x as the forward kernel computes them; with xhat = (x - mean) rstd and
 * gh = g w, dx = rstd (gh - mean(gh) - xhat mean(gh xhat)); dw = sum over rows of g xhat and
 * db = sum of g, accumulated per piece of {@link #ROWS} rows and added up in piece order, so the
 * result does not depend on the thread count.
 */
final class CpuNormGrad {
    private CpuNormGrad() {}

    private static final VectorSpecies<Float> S = CpuConfig.F32;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Rows per piece of work (fixed: the reduction order of dw and db depends on it, not on threads). */
    static final int ROWS = 32;

    /**
     * x, g contiguous [rows, d]; w (may be null), gw, gb contiguous [d] or null (not wanted); gx
     * contiguous like x or null. All one float dtype. False where it does not apply.
     */
    static boolean layerNormBackward(Tensor g, Tensor x, Tensor w, int k, double eps, Tensor gx, Tensor gw, Tensor gb) {
        DType t = x.dtype();
        if (t != DType.F32 && t != DType.F64) return false;
        int[] s = x.shape();
        if (k < 1 || k > s.length) return false;
        long dl = 1;
        for (int i = s.length - k; i < s.length; i++) dl *= s[i];
        if (dl < 1 || dl > Integer.MAX_VALUE) return false;
        int d = (int) dl;
        for (Tensor a : new Tensor[]{g, x, w, gx, gw, gb}) {
            if (a == null) continue;
            if (a.dtype() != t || !a.isContiguous()) return false;
        }
        if (g.numel() != x.numel() || (gx != null && gx.numel() != x.numel())) return false;
        for (Tensor a : new Tensor[]{w, gw, gb}) if (a != null && a.numel() != d) return false;
        long rowsL = x.numel() / d;
        if (rowsL > Integer.MAX_VALUE) return false;
        int rows = (int) rowsL, pieces = (rows + ROWS - 1) / ROWS;
        boolean vec = t == DType.F32 && !CpuConfig.scalar();
        boolean wantW = gw != null, wantB = gb != null;
        double[][] pw = new double[wantW ? pieces : 0][], pb = new double[wantB ? pieces : 0][];
        Parallel.forRange(pieces, (long) ROWS * d * 12, (p0, p1) -> {
            float[] aw = new float[d], ab = new float[d];
            double[] sq = new double[1];
            for (int p = p0; p < p1; p++) {
                double[] dw = new double[d], db = new double[d];
                if (vec) {
                    java.util.Arrays.fill(aw, 0f);
                    java.util.Arrays.fill(ab, 0f);
                }
                for (int r = p * ROWS, end = Math.min(rows, r + ROWS); r < end; r++) {
                    if (vec) rowF32(g, x, w, gx, r, d, eps, aw, ab, sq);
                    else rowScalar(t, g, x, w, gx, r, d, eps, dw, db);
                }
                if (vec) {
                    for (int i = 0; i < d; i++) {
                        dw[i] = aw[i];
                        db[i] = ab[i];
                    }
                }
                if (wantW) pw[p] = dw;
                if (wantB) pb[p] = db;
            }
        });
        if (wantW) store(pw, gw, d);
        if (wantB) store(pb, gb, d);
        return true;
    }

    private static void store(double[][] parts, Tensor dst, int d) {
        double[] sum = new double[d];
        for (double[] p : parts) for (int i = 0; i < d; i++) sum[i] += p[i];
        Storage st = dst.storage();
        for (int i = 0; i < d; i++) st.setDouble(dst.dtype(), dst.offset() + i, sum[i]);
    }

    private static void rowF32(Tensor g, Tensor x, Tensor w, Tensor gx, int r, int d, double eps, float[] aw, float[] ab, double[] sq) {
        MemorySegment xs = x.segment(), gs = g.segment(), ws = w == null ? null : w.segment(), os = gx == null ? null : gx.segment();
        long xi = x.offset() + (long) r * d, gi = g.offset() + (long) r * d, wi = w == null ? 0 : w.offset();
        // mean and rstd exactly as the forward kernel (ReduceNorm.layerNormRows) computes them
        float m0 = (float) (ReduceRowF32.sum(xs, xi, d) / d);
        double sd = ReduceRowF32.sumDev(xs, xi, d, m0, sq);
        double mean = m0 + sd / d, var = Math.max(0, (sq[0] - sd * sd / d) / d);
        float hi = (float) mean, lo = (float) (mean - hi), rstd = (float) (1 / Math.sqrt(var + eps));
        FloatVector mh = FloatVector.broadcast(S, hi), ml = FloatVector.broadcast(S, lo), rv = FloatVector.broadcast(S, rstd);
        FloatVector sa = FloatVector.zero(S), sc = sa;
        int i = 0;
        for (int up = S.loopBound(d); i < up; i += L) {
            FloatVector xh = ld(xs, xi + i).sub(mh).sub(ml).mul(rv), gv = ld(gs, gi + i);
            FloatVector gh = ws == null ? gv : gv.mul(ld(ws, wi + i));
            sa = sa.add(gh);
            sc = gh.fma(xh, sc);
            FloatVector.fromArray(S, aw, i).add(gv.mul(xh)).intoArray(aw, i);
            FloatVector.fromArray(S, ab, i).add(gv).intoArray(ab, i);
        }
        float a = (float) Lanes.sum(sa), c = (float) Lanes.sum(sc);
        for (int j = i; j < d; j++) {
            float xh = ((get(xs, xi + j) - hi) - lo) * rstd, gv = get(gs, gi + j);
            float gh = ws == null ? gv : gv * get(ws, wi + j);
            a += gh;
            c += gh * xh;
            aw[j] += gv * xh;
            ab[j] += gv;
        }
        if (os == null) return;
        long oi = gx.offset() + (long) r * d;
        float ma = a / d, mc = c / d;
        FloatVector mav = FloatVector.broadcast(S, ma), mcv = FloatVector.broadcast(S, mc);
        i = 0;
        for (int up = S.loopBound(d); i < up; i += L) {
            FloatVector xh = ld(xs, xi + i).sub(mh).sub(ml).mul(rv), gv = ld(gs, gi + i);
            FloatVector gh = ws == null ? gv : gv.mul(ld(ws, wi + i));
            gh.sub(mav).sub(xh.mul(mcv)).mul(rv).intoMemorySegment(os, (oi + i) * 4, LE);
        }
        for (int j = i; j < d; j++) {
            float xh = ((get(xs, xi + j) - hi) - lo) * rstd, gv = get(gs, gi + j);
            float gh = ws == null ? gv : gv * get(ws, wi + j);
            os.setAtIndex(Storage.F32, oi + j, (gh - ma - xh * mc) * rstd);
        }
    }

    /** Any float dtype, in double: the reference path (F64, and the scalar switch). */
    private static void rowScalar(DType t, Tensor g, Tensor x, Tensor w, Tensor gx, int r, int d, double eps, double[] aw, double[] ab) {
        Storage xs = x.storage(), gs = g.storage();
        long xi = x.offset() + (long) r * d, gi = g.offset() + (long) r * d;
        double mean = 0, var = 0;
        for (int j = 0; j < d; j++) mean += xs.getDouble(t, xi + j);
        mean /= d;
        for (int j = 0; j < d; j++) {
            double dv = xs.getDouble(t, xi + j) - mean;
            var += dv * dv;
        }
        double rstd = 1 / Math.sqrt(var / d + eps), a = 0, c = 0;
        double[] xh = new double[d], gh = new double[d];
        for (int j = 0; j < d; j++) {
            double gv = gs.getDouble(t, gi + j);
            xh[j] = (xs.getDouble(t, xi + j) - mean) * rstd;
            gh[j] = w == null ? gv : gv * w.storage().getDouble(t, w.offset() + j);
            a += gh[j];
            c += gh[j] * xh[j];
            aw[j] += gv * xh[j];
            ab[j] += gv;
        }
        if (gx == null) return;
        long oi = gx.offset() + (long) r * d;
        for (int j = 0; j < d; j++) gx.storage().setDouble(t, oi + j, (gh[j] - a / d - xh[j] * c / d) * rstd);
    }

    /**
     * Softmax (log: log-softmax) backward over the last dim from the forward's output y and the
     * gradient g, into dx; all contiguous, one shape, one float dtype. False where it does not apply.
     */
    static boolean softmaxBackward(Tensor y, Tensor g, boolean log, Tensor dx) {
        DType t = y.dtype();
        if ((t != DType.F32 && t != DType.F64) || g.dtype() != t || dx.dtype() != t || y.dim() == 0) return false;
        if (!y.isContiguous() || !g.isContiguous() || !dx.isContiguous() || g.numel() != y.numel() || dx.numel() != y.numel()) return false;
        int n = y.size(-1);
        if (n == 0) return true;
        long rowsL = y.numel() / n;
        if (rowsL > Integer.MAX_VALUE) return false;
        boolean vec = t == DType.F32 && !CpuConfig.scalar();
        MemorySegment ys = y.segment(), gs = g.segment(), os = dx.segment();
        long yo = y.offset(), go = g.offset(), oo = dx.offset();
        Parallel.forRange((int) rowsL, 6L * n, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long yi = yo + (long) r * n, gi = go + (long) r * n, oi = oo + (long) r * n;
                if (vec && log) logSoftmaxRowF32(ys, yi, gs, gi, os, oi, n);
                else if (vec) softmaxRowF32(ys, yi, gs, gi, os, oi, n);
                else softmaxRowScalar(t, y.storage(), yi, g.storage(), gi, dx.storage(), oi, n, log);
            }
        });
        return true;
    }

    private static void softmaxRowF32(MemorySegment y, long yi, MemorySegment g, long gi, MemorySegment o, long oi, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) acc = ld(g, gi + i).fma(ld(y, yi + i), acc);
        float dot = (float) Lanes.sum(acc);
        for (int j = i; j < n; j++) dot += get(g, gi + j) * get(y, yi + j);
        FloatVector dv = FloatVector.broadcast(S, dot);
        i = 0;
        for (int up = S.loopBound(n); i < up; i += L) ld(y, yi + i).mul(ld(g, gi + i).sub(dv)).intoMemorySegment(o, (oi + i) * 4, LE);
        for (int j = i; j < n; j++) o.setAtIndex(Storage.F32, oi + j, get(y, yi + j) * (get(g, gi + j) - dot));
    }

    private static void logSoftmaxRowF32(MemorySegment y, long yi, MemorySegment g, long gi, MemorySegment o, long oi, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L) acc = acc.add(ld(g, gi + i));
        float sum = (float) Lanes.sum(acc);
        for (int j = i; j < n; j++) sum += get(g, gi + j);
        logSoftmaxWrite(y, yi, g, gi, o, oi, n, sum);
    }

    /** dx = g - e^y sum: its own method, so the exp's vector code is one compilation (see ElemUnary). */
    private static void logSoftmaxWrite(MemorySegment y, long yi, MemorySegment g, long gi, MemorySegment o, long oi, int n, float sum) {
        FloatVector sv = FloatVector.broadcast(S, sum);
        int i = 0;
        for (int up = S.loopBound(n); i < up; i += L)
            ld(g, gi + i).sub(ElemVecF32.exp(ld(y, yi + i)).mul(sv)).intoMemorySegment(o, (oi + i) * 4, LE);
        for (int j = i; j < n; j++) o.setAtIndex(Storage.F32, oi + j, get(g, gi + j) - (float) Math.exp(get(y, yi + j)) * sum);
    }

    private static void softmaxRowScalar(DType t, Storage y, long yi, Storage g, long gi, Storage o, long oi, int n, boolean log) {
        double s = 0;
        for (int j = 0; j < n; j++) s += log ? g.getDouble(t, gi + j) : g.getDouble(t, gi + j) * y.getDouble(t, yi + j);
        for (int j = 0; j < n; j++) {
            double yv = y.getDouble(t, yi + j), gv = g.getDouble(t, gi + j);
            o.setDouble(t, oi + j, log ? gv - Math.exp(yv) * s : yv * (gv - s));
        }
    }

    private static FloatVector ld(MemorySegment s, long i) { return FloatVector.fromMemorySegment(S, s, i * 4, LE); }

    private static float get(MemorySegment s, long i) { return s.getAtIndex(Storage.F32, i); }
}
