package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Softmax / log-softmax along one axis and layer norm over trailing dims, as row kernels over a
 * contiguous last axis ({@link ReduceRowF32} / {@link ReduceRowF64} pieces), parallel over rows.
 * A softmax axis that is not last runs column-wise over [outer, axis, inner] (whole rows of the
 * inner dims at a time, max and sum kept per column); other layouts (strided inputs, short inner
 * dims) are first copied into the row layout, and results copied back. Layer norm uses the biased variance, like PyTorch.
 */
final class ReduceNorm {
    private ReduceNorm() {}

    static void softmax(Tensor x, int axis, boolean log, Tensor out) {
        String name = log ? "log_softmax" : "softmax";
        checkSame(name, x, out);
        int r = x.dim();
        if (r == 0) {
            try (Tensor x1 = x.reshape(1); Tensor o1 = out.reshape(1)) {
                softmax(x1, 0, log, o1);
            }
            return;
        }
        if (axis < 0 || axis >= r) throw new IllegalArgumentException(name + ": axis " + axis + " out of range for rank " + r);
        int last = r - 1;
        if (axis == last && x.isContiguous() && out.isContiguous()) {
            softmaxRows(x, log, out);
            return;
        }
        int inner = 1;
        for (int d = axis + 1; d < r; d++) inner *= x.size(d);
        if (inner >= 16 && x.isContiguous() && out.isContiguous() && !CpuConfig.scalar()) {
            softmaxColumns(x, axis, inner, log, out);
            return;
        }
        int[] order = new int[r];
        for (int i = 0, k = 0; i < r; i++) if (i != axis) order[k++] = i;
        order[last] = axis;
        try (Tensor xp = x.permute(order); Tensor xc = xp.clone();
             Tensor oc = Tensor.empty(out.backend(), out.dtype(), xc.shape()); Tensor op = out.permute(order)) {
            softmaxRows(xc, log, oc);
            out.backend().copy(oc, op);
        }
    }

    /** Softmax of each last-axis row of contiguous x into contiguous out. */
    private static void softmaxRows(Tensor x, boolean log, Tensor out) {
        int d = x.size(-1);
        if (x.numel() == 0) return;
        int rows = (int) (x.numel() / d);
        boolean f32 = x.dtype() == DType.F32, scalar = CpuConfig.scalar();
        MemorySegment xs = x.segment(), os = out.segment();
        long xb = x.offset(), ob = out.offset();
        Parallel.forRange(rows, 8L * d, (s, e) -> {
            if (f32 && !log && !scalar && (ElemStream.softmaxRows(x.numel(), xs, xb + (long) s * d, os, ob + (long) s * d, e - s, d)
                    || ElemNative.softmaxRows(xs, xb + (long) s * d, os, ob + (long) s * d, e - s, d)))
                return;
            for (int row = s; row < e; row++) {
                long xi = xb + (long) row * d, oi = ob + (long) row * d;
                if (scalar) softmaxScalar(f32 ? DType.F32 : DType.F64, x.storage(), xi, out.storage(), oi, d, log);
                else if (f32) softmaxF32(xs, xi, os, oi, d, log);
                else softmaxF64(xs, xi, os, oi, d, log);
            }
        });
    }

    static void softmaxF32(MemorySegment x, long xi, MemorySegment o, long oi, int d, boolean log) {
        float m = ReduceRowF32.max(x, xi, d);
        if (log) {
            double s = ReduceRowF32.sumExp(x, xi, d, m);
            ReduceRowF32.subConst(x, xi, o, oi, d, m, (float) Math.log(s));
        } else {
            double s = ReduceRowF32.expSubStore(x, xi, o, oi, d, m);
            ReduceRowF32.scale(o, oi, d, (float) (1 / s));
        }
    }

    private static void softmaxF64(MemorySegment x, long xi, MemorySegment o, long oi, int d, boolean log) {
        double m = ReduceRowF64.max(x, xi, d);
        if (log) {
            double s = ReduceRowF64.sumExp(x, xi, d, m);
            ReduceRowF64.subConst(x, xi, o, oi, d, m, Math.log(s));
        } else {
            double s = ReduceRowF64.expSubStore(x, xi, o, oi, d, m);
            ReduceRowF64.scale(o, oi, d, 1 / s);
        }
    }

    /** Softmax along a non-last axis of contiguous x, as [outer, a, inner], in column blocks of ElemRows.BUF. */
    private static void softmaxColumns(Tensor x, int axis, int inner, boolean log, Tensor out) {
        int a = x.size(axis);
        long outer = x.numel() / ((long) a * inner);
        if (outer == 0 || a == 0) return;
        int blocks = (inner + ElemRows.BUF - 1) / ElemRows.BUF;
        boolean f32 = x.dtype() == DType.F32;
        MemorySegment xs = x.segment(), os = out.segment();
        long xb = x.offset(), ob = out.offset();
        Parallel.forRange((int) (outer * blocks), 8L * a * Math.min(inner, ElemRows.BUF), (s, e) -> {
            ElemRows.Scratch scratch = ElemRows.Scratch.get();
            for (int task = s; task < e; task++) {
                long o = task / blocks;
                int c0 = (task % blocks) * ElemRows.BUF, w = Math.min(ElemRows.BUF, inner - c0);
                long base = o * a * inner + c0;
                if (f32) columnsF32(xs, xb + base, os, ob + base, a, inner, w, log, scratch);
                else columnsF64(xs, xb + base, os, ob + base, a, inner, w, log, scratch);
            }
        });
    }

    private static void columnsF32(MemorySegment x, long xi, MemorySegment o, long oi, int a, int stride, int w,
                                   boolean log, ElemRows.Scratch s) {
        MemorySegment m = s.buf(0), acc = s.buf(1), dacc = s.buf(2), c = s.buf(3);
        MemorySegment.copy(x, xi * 4, m, 0, w * 4L);
        for (int k = 1; k < a; k++) ReduceRowF32.accumulate(2, m, x, xi + (long) k * stride, w);
        acc.asSlice(0, w * 4L).fill((byte) 0);
        dacc.asSlice(0, w * 8L).fill((byte) 0);
        for (int k = 0; k < a; k++) {
            long r = (long) k * stride;
            ReduceRowF32.expSubAcc(acc, x, xi + r, m, log ? null : o, oi + r, w);
            if ((k + 1) % 256 == 0 || k == a - 1) {
                for (int i = 0; i < w; i++) {
                    dacc.setAtIndex(Storage.F64, i, dacc.getAtIndex(Storage.F64, i) + acc.getAtIndex(Storage.F32, i));
                    acc.setAtIndex(Storage.F32, i, 0f);
                }
            }
        }
        for (int i = 0; i < w; i++) {
            double sum = dacc.getAtIndex(Storage.F64, i);
            c.setAtIndex(Storage.F32, i, (float) (log ? Math.log(sum) : 1 / sum));
        }
        for (int k = 0; k < a; k++) {
            long r = (long) k * stride;
            if (log) ReduceRowF32.subSubRow(x, xi + r, m, c, o, oi + r, w);
            else ReduceRowF32.mulRow(o, oi + r, c, w);
        }
    }

    private static void columnsF64(MemorySegment x, long xi, MemorySegment o, long oi, int a, int stride, int w,
                                   boolean log, ElemRows.Scratch s) {
        MemorySegment m = s.buf(0), acc = s.buf(1);
        MemorySegment.copy(x, xi * 8, m, 0, w * 8L);
        for (int k = 1; k < a; k++) ReduceRowF64.accumulate(2, m, x, xi + (long) k * stride, w);
        acc.asSlice(0, w * 8L).fill((byte) 0);
        for (int k = 0; k < a; k++) {
            long r = (long) k * stride;
            ReduceRowF64.expSubAcc(acc, x, xi + r, m, log ? null : o, oi + r, w);
        }
        for (int i = 0; i < w; i++) {
            double sum = acc.getAtIndex(Storage.F64, i);
            acc.setAtIndex(Storage.F64, i, log ? Math.log(sum) : 1 / sum);
        }
        for (int k = 0; k < a; k++) {
            long r = (long) k * stride;
            if (log) ReduceRowF64.subSubRow(x, xi + r, m, acc, o, oi + r, w);
            else ReduceRowF64.mulRow(o, oi + r, acc, w);
        }
    }

    /** Scalar twin: double precision. */
    static void softmaxScalar(DType t, Storage x, long xi, Storage o, long oi, int d, boolean log) {
        double m = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < d; i++) m = Math.max(m, x.getDouble(t, xi + i));
        double s = 0;
        for (int i = 0; i < d; i++) s += Math.exp(x.getDouble(t, xi + i) - m);
        double ls = Math.log(s);
        for (int i = 0; i < d; i++) {
            double v = x.getDouble(t, xi + i);
            o.setDouble(t, oi + i, log ? (v - m) - ls : Math.exp(v - m) / s);
        }
    }

    // ------------------------------------------------------------------ layer norm

    static void layerNorm(Tensor x, Tensor w, Tensor b, int k, double eps, Tensor out) {
        checkSame("layer_norm", x, out);
        int[] s = x.shape();
        if (k < 1 || k > s.length)
            throw new IllegalArgumentException("layer_norm: " + k + " normalized dims for input shape " + Shape.str(s));
        int[] norm = Arrays.copyOfRange(s, s.length - k, s.length);
        for (Tensor p : new Tensor[]{w, b})
            if (p != null && (!Arrays.equals(p.shape(), norm) || p.dtype() != x.dtype()))
                throw new IllegalArgumentException("layer_norm: weight/bias " + p.dtype().pyName() + Shape.str(p.shape())
                        + " must be " + x.dtype().pyName() + Shape.str(norm));
        if (x.numel() == 0) return;
        int d = (int) Shape.numel(norm);
        try (Tensor xc = x.contiguous();
             Tensor wc = w == null ? Tensor.full(1.0, x.dtype(), d) : w.contiguous();
             Tensor bc = b == null ? Tensor.full(0.0, x.dtype(), d) : b.contiguous();
             Tensor oc = out.isContiguous() ? out.contiguous() : Tensor.empty(out.backend(), out.dtype(), s)) {
            layerNormRows(xc, wc, bc, d, eps, oc);
            if (!out.isContiguous()) out.backend().copy(oc, out);
        }
    }

    private static void layerNormRows(Tensor x, Tensor w, Tensor b, int d, double eps, Tensor out) {
        int rows = (int) (x.numel() / d);
        boolean f32 = x.dtype() == DType.F32, scalar = CpuConfig.scalar();
        MemorySegment xs = x.segment(), ws = w.segment(), bs = b.segment(), os = out.segment();
        long xb = x.offset(), wi = w.offset(), bi = b.offset(), ob = out.offset();
        Parallel.forRange(rows, 4L * d, (s, e) -> {
            double[] sq = new double[1];
            for (int row = s; row < e; row++) {
                long xi = xb + (long) row * d, oi = ob + (long) row * d;
                if (scalar) layerNormScalar(x.dtype(), x.storage(), xi, w.storage(), wi, b.storage(), bi, out.storage(), oi, d, eps);
                else if (f32) {
                    float m0 = (float) (ReduceRowF32.sum(xs, xi, d) / d);
                    double sd = ReduceRowF32.sumDev(xs, xi, d, m0, sq); // deviations from m0: exact despite a large offset
                    double mean = m0 + sd / d, var = Math.max(0, (sq[0] - sd * sd / d) / d);
                    float hi = (float) mean, lo = (float) (mean - hi);
                    float rstd = (float) (1 / Math.sqrt(var + eps));
                    ReduceRowF32.normalize(xs, xi, os, oi, d, hi, lo, rstd, ws, wi, bs, bi);
                } else {
                    double mean = ReduceRowF64.sum(xs, xi, d) / d;
                    double rstd = 1 / Math.sqrt(ReduceRowF64.sumSqDev(xs, xi, d, mean) / d + eps);
                    ReduceRowF64.normalize(xs, xi, os, oi, d, mean, 0, rstd, ws, wi, bs, bi);
                }
            }
        });
    }

    private static void layerNormScalar(DType t, Storage x, long xi, Storage w, long wi, Storage b, long bi,
                                        Storage o, long oi, int d, double eps) {
        double mean = 0;
        for (int i = 0; i < d; i++) mean += x.getDouble(t, xi + i);
        mean /= d;
        double var = 0;
        for (int i = 0; i < d; i++) {
            double dv = x.getDouble(t, xi + i) - mean;
            var += dv * dv;
        }
        double rstd = 1 / Math.sqrt(var / d + eps);
        for (int i = 0; i < d; i++)
            o.setDouble(t, oi + i, (x.getDouble(t, xi + i) - mean) * rstd * w.getDouble(t, wi + i) + b.getDouble(t, bi + i));
    }

    private static void checkSame(String name, Tensor x, Tensor out) {
        if (!Arrays.equals(x.shape(), out.shape()))
            throw new IllegalArgumentException(name + ": input shape " + Shape.str(x.shape()) + " != output shape " + Shape.str(out.shape()));
        if (x.dtype() != out.dtype() || (x.dtype() != DType.F32 && x.dtype() != DType.F64))
            throw new IllegalArgumentException(name + ": needs float32 or float64 input and output, got "
                    + x.dtype().pyName() + " and " + out.dtype().pyName());
    }
}
