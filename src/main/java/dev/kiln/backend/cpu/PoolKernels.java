package dev.kiln.backend.cpu;

import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Max and average pooling over x [N,C,H,W] (any strides) into a contiguous out [N,C,OH,OW],
 * planes (n, c) spread over threads. Each plane is copied into a heap array first (one bulk copy
 * for a contiguous plane), computed there, and its outputs copied back in one go: per-element
 * segment access with bounds checks in tiny windows was 5x slower. Window rules follow PyTorch:
 * <pre>
 * MAX: window [oh*sh - ph, +kh) x [ow*sw - pw, +kw) clipped to the input (padding acts as -inf);
 *      scanned row by row, a value replaces the max when greater or NaN, so a NaN wins and the
 *      last NaN gives the index; indices (I64) = h*W + w within the plane (all -inf: the first
 *      position of the clipped window).
 * AVG: sum over the clipped window / divisor, where divisor counts the window clipped to the
 *      padded input [-ph, H+ph) when countIncludePad, else only the positions inside the input.
 * </pre>
 * F32 kernel-2 stride-2 unpadded pooling whose windows all lie inside the input takes
 * {@link Pool2x2Rows} (no indices, dense planes) or {@link Pool2x2}; every other case, and the scalar twin, runs the generic loops here in double.
 */
final class PoolKernels {
    private PoolKernels() {}

    /** Per-call sizes; x strides in elements. */
    record Geometry(int h, int w, int oh, int ow, long sy, long sx, Pool2dParams p) {}

    static void pool2d(PoolOp op, Tensor x, Pool2dParams p, Tensor out, Tensor indices) {
        int[] xs = x.shape(), os = out.shape();
        long[] st = x.strides();
        Geometry g = new Geometry(xs[2], xs[3], os[2], os[3], st[2], st[3], p);
        int channels = xs[1], planes = xs[0] * xs[1];
        if (planes == 0 || out.numel() == 0) return;
        boolean f32 = x.dtype() == DType.F32;
        boolean fast = f32 && !CpuConfig.scalar() && Pool2x2.applies(g);
        int in = g.h * g.w, on = g.oh * g.ow;
        if (fast && indices == null && Pool2x2Rows.applies(g, st[1], st[0] == (long) channels * st[1])) {
            Pool2x2Rows.run(op == PoolOp.MAX, x.segment(), x.offset(), out.segment(), out.offset(), planes, g.h, g.w);
            return;
        }
        Parallel.forRange(planes, (long) on * p.kernelH() * p.kernelW() + in, (s, e) -> {
            // heap copies of one plane (with the slack Pool2x2 needs)
            float[] xf = f32 ? new float[Pool2x2.slack(in)] : null, of = f32 ? new float[Pool2x2.slack(on)] : null;
            double[] xd = fast ? null : new double[in], od = fast ? null : new double[on];
            long[] idx = indices == null ? null : new long[Pool2x2.slack(on)];
            float[] v = fast ? new float[Pool2x2.slack(g.w)] : null;
            int[] vp = fast && indices != null ? new int[Pool2x2.slack(g.w)] : null;
            float[] rowMax = f32 && !fast ? new float[g.h * g.ow] : null;
            for (int pl = s; pl < e; pl++) {
                long xOff = x.offset() + (pl / channels) * st[0] + (pl % channels) * st[1];
                long oOff = out.offset() + (long) pl * on;
                if (fast) {
                    loadF32(x.segment(), xOff, g, xf);
                    Pool2x2.plane(op == PoolOp.MAX, xf, g.w, g.oh, g.ow, of, idx, v, vp);
                } else if (f32 && op == PoolOp.MAX && idx == null && !CpuConfig.scalar()) {
                    loadF32(x.segment(), xOff, g, xf);
                    maxPlaneSeparable(g, xf, of, rowMax);
                } else {
                    if (f32) {
                        loadF32(x.segment(), xOff, g, xf);
                        for (int i = 0; i < in; i++) xd[i] = xf[i];
                    } else {
                        loadF64(x.segment(), xOff, g, xd);
                    }
                    if (op == PoolOp.MAX) maxPlane(g, xd, od, idx);
                    else avgPlane(g, xd, od);
                    if (f32) for (int i = 0; i < on; i++) of[i] = (float) od[i];
                }
                if (f32) MemorySegment.copy(of, 0, out.segment(), Storage.F32, oOff * 4, on);
                else MemorySegment.copy(od, 0, out.segment(), Storage.F64, oOff * 8, on);
                if (idx != null)
                    MemorySegment.copy(idx, 0, indices.segment(), Storage.I64, (indices.offset() + (long) pl * on) * 8, on);
            }
        });
    }

    /** The plane at element offset off as a dense [H*W] array (one copy when contiguous). */
    private static void loadF32(MemorySegment x, long off, Geometry g, float[] dst) {
        if (g.sx == 1 && g.sy == g.w) {
            MemorySegment.copy(x, Storage.F32, off * 4, dst, 0, g.h * g.w);
            return;
        }
        for (int r = 0; r < g.h; r++) {
            long row = off + r * g.sy;
            if (g.sx == 1) MemorySegment.copy(x, Storage.F32, row * 4, dst, r * g.w, g.w);
            else for (int c = 0; c < g.w; c++) dst[r * g.w + c] = x.getAtIndex(Storage.F32, row + c * g.sx);
        }
    }

    private static void loadF64(MemorySegment x, long off, Geometry g, double[] dst) {
        if (g.sx == 1 && g.sy == g.w) {
            MemorySegment.copy(x, Storage.F64, off * 8, dst, 0, g.h * g.w);
            return;
        }
        for (int r = 0; r < g.h; r++) {
            long row = off + r * g.sy;
            if (g.sx == 1) MemorySegment.copy(x, Storage.F64, row * 8, dst, r * g.w, g.w);
            else for (int c = 0; c < g.w; c++) dst[r * g.w + c] = x.getAtIndex(Storage.F64, row + c * g.sx);
        }
    }

    /**
     * F32 max pooling of one dense plane without indices, any window and stride (ResNet's 3x3
     * stride 2): max over each row's windows first (rowMax [H, OW]), then over the rows of each
     * window; float all the way, with the generic loop's rule (keep the first maximum in row-major
     * order, a NaN wins), so the result equals {@link #maxPlane}'s bit for bit (signed zeros too).
     */
    static void maxPlaneSeparable(Geometry g, float[] x, float[] out, float[] rowMax) {
        Pool2dParams p = g.p;
        for (int h = 0; h < g.h; h++) {
            int row = h * g.w, dst = h * g.ow;
            for (int ow = 0; ow < g.ow; ow++) {
                int w0 = ow * p.strideW() - p.padW(), w1 = Math.min(w0 + p.kernelW(), g.w);
                float best = Float.NEGATIVE_INFINITY;
                for (int w = Math.max(w0, 0); w < w1; w++) {
                    float v = x[row + w];
                    if (v > best || v != v) best = v;          // the generic loop's rule: first max, last NaN
                }
                rowMax[dst + ow] = best;
            }
        }
        for (int oh = 0; oh < g.oh; oh++) {
            int h0 = oh * p.strideH() - p.padH(), h1 = Math.min(h0 + p.kernelH(), g.h), o = oh * g.ow;
            for (int ow = 0; ow < g.ow; ow++) out[o + ow] = Float.NEGATIVE_INFINITY;
            for (int h = Math.max(h0, 0); h < h1; h++) {
                int src = h * g.ow;
                for (int ow = 0; ow < g.ow; ow++) {
                    float v = rowMax[src + ow];
                    if (v > out[o + ow] || v != v) out[o + ow] = v;
                }
            }
        }
    }

    /** Generic max pooling of one dense plane; idx may be null. */
    static void maxPlane(Geometry g, double[] x, double[] out, long[] idx) {
        Pool2dParams p = g.p;
        for (int oh = 0, o = 0; oh < g.oh; oh++)
            for (int ow = 0; ow < g.ow; ow++, o++) {
                int h0 = oh * p.strideH() - p.padH(), w0 = ow * p.strideW() - p.padW();
                int h1 = Math.min(h0 + p.kernelH(), g.h), w1 = Math.min(w0 + p.kernelW(), g.w);
                h0 = Math.max(h0, 0);
                w0 = Math.max(w0, 0);
                double best = Double.NEGATIVE_INFINITY;
                int at = h0 * g.w + w0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        double v = x[h * g.w + w];
                        if (v > best || Double.isNaN(v)) {
                            best = v;
                            at = h * g.w + w;
                        }
                    }
                out[o] = best;
                if (idx != null) idx[o] = at;
            }
    }

    /** Generic average pooling of one dense plane. */
    static void avgPlane(Geometry g, double[] x, double[] out) {
        Pool2dParams p = g.p;
        for (int oh = 0, o = 0; oh < g.oh; oh++)
            for (int ow = 0; ow < g.ow; ow++, o++) {
                int h0 = oh * p.strideH() - p.padH(), w0 = ow * p.strideW() - p.padW();
                int h1 = Math.min(h0 + p.kernelH(), g.h + p.padH()), w1 = Math.min(w0 + p.kernelW(), g.w + p.padW());
                int padded = (h1 - h0) * (w1 - w0);
                h0 = Math.max(h0, 0);
                w0 = Math.max(w0, 0);
                h1 = Math.min(h1, g.h);
                w1 = Math.min(w1, g.w);
                if (h0 >= h1 || w0 >= w1) {
                    out[o] = 0;
                    continue;
                }
                double sum = 0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) sum += x[h * g.w + w];
                out[o] = sum / (p.countIncludePad() ? padded : (h1 - h0) * (w1 - w0));
            }
    }
}
