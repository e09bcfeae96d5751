package dev.kiln.backend.cpu;

import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Max and average pooling over x [N,C,H,W] (any strides) into a contiguous out [N,C,OH,OW],
 * planes (n, c) spread over threads. Window rules follow PyTorch:
 * <pre>
 * MAX: window [oh*sh - ph, +kh) x [ow*sw - pw, +kw) clipped to the input (padding acts as -inf);
 *      a NaN wins; indices (I64) = h*W + w of the max within the plane (the last NaN if any).
 * AVG: sum over the clipped window / divisor, where divisor counts the window clipped to the
 *      padded input [-ph, H+ph) when countIncludePad, else only the positions inside the input.
 * </pre>
 * The common kernel-2 stride-2 unpadded F32 case (without indices) takes {@link PoolVector} for the
 * full windows; every other output (and the scalar twin) uses the per-output scalar loops here.
 */
final class PoolKernels {
    private PoolKernels() {}

    /** The per-call sizes; x offsets/strides in elements. */
    record Plane(int h, int w, int oh, int ow, long sy, long sx, Pool2dParams p, boolean f32) {}

    static void pool2d(PoolOp op, Tensor x, Pool2dParams p, Tensor out, Tensor indices) {
        int[] xs = x.shape(), os = out.shape();
        long[] st = x.strides();
        Plane g = new Plane(xs[2], xs[3], os[2], os[3], st[2], st[3], p, x.dtype() == DType.F32);
        int channels = xs[1], planes = xs[0] * xs[1];
        if (planes == 0 || out.numel() == 0) return;
        boolean vector = !CpuConfig.scalar() && g.f32 && st[3] == 1 && indices == null
                && p.kernelH() == 2 && p.kernelW() == 2 && p.strideH() == 2 && p.strideW() == 2
                && p.padH() == 0 && p.padW() == 0;
        MemorySegment xseg = x.segment(), oseg = out.segment(), iseg = indices == null ? null : indices.segment();
        long planeOut = (long) g.oh * g.ow;
        Parallel.forRange(planes, planeOut * p.kernelH() * p.kernelW(), (s, e) -> {
            for (int pl = s; pl < e; pl++) {
                long xOff = x.offset() + (pl / channels) * st[0] + (pl % channels) * st[1];
                long oOff = out.offset() + pl * planeOut;
                long iOff = indices == null ? 0 : indices.offset() + pl * planeOut;
                int fullH = 0, fullW = 0;
                if (vector) {
                    fullH = Math.min(g.oh, g.h / 2);
                    fullW = Math.min(g.ow, g.w / 2);
                    PoolVector.pool2x2(op == PoolOp.MAX, xseg, xOff, g.sy, oseg, oOff, g.ow, fullH, fullW);
                }
                scalarRest(op, g, xseg, xOff, oseg, oOff, iseg, iOff, fullH, fullW);
            }
        });
    }

    /** All outputs of the plane outside the [0, fullH) x [0, fullW) block done by the vector path. */
    private static void scalarRest(PoolOp op, Plane g, MemorySegment x, long xOff, MemorySegment out, long oOff,
                                   MemorySegment idx, long iOff, int fullH, int fullW) {
        for (int oh = 0; oh < g.oh; oh++) {
            int ow0 = oh < fullH ? fullW : 0;
            for (int ow = ow0; ow < g.ow; ow++) {
                long o = (long) oh * g.ow + ow;
                if (op == PoolOp.MAX) maxAt(g, x, xOff, oh, ow, out, oOff + o, idx, iOff + o);
                else avgAt(g, x, xOff, oh, ow, out, oOff + o);
            }
        }
    }

    private static double get(MemorySegment s, long i, boolean f32) {
        return f32 ? s.getAtIndex(Storage.F32, i) : s.getAtIndex(Storage.F64, i);
    }

    private static void put(MemorySegment s, long i, double v, boolean f32) {
        if (f32) s.setAtIndex(Storage.F32, i, (float) v);
        else s.setAtIndex(Storage.F64, i, v);
    }

    private static void maxAt(Plane g, MemorySegment x, long xOff, int oh, int ow, MemorySegment out, long o,
                              MemorySegment idx, long io) {
        Pool2dParams p = g.p;
        int h0 = oh * p.strideH() - p.padH(), w0 = ow * p.strideW() - p.padW();
        int h1 = Math.min(h0 + p.kernelH(), g.h), w1 = Math.min(w0 + p.kernelW(), g.w);
        h0 = Math.max(h0, 0);
        w0 = Math.max(w0, 0);
        double best = Double.NEGATIVE_INFINITY;
        long bestAt = (long) h0 * g.w + w0;
        for (int h = h0; h < h1; h++) {
            long row = xOff + h * g.sy;
            for (int w = w0; w < w1; w++) {
                double v = get(x, row + w * g.sx, g.f32);
                if (v > best || Double.isNaN(v)) {
                    best = v;
                    bestAt = (long) h * g.w + w;
                }
            }
        }
        put(out, o, best, g.f32);
        if (idx != null) idx.setAtIndex(Storage.I64, io, bestAt);
    }

    private static void avgAt(Plane g, MemorySegment x, long xOff, int oh, int ow, MemorySegment out, long o) {
        Pool2dParams p = g.p;
        int h0 = oh * p.strideH() - p.padH(), w0 = ow * p.strideW() - p.padW();
        int h1 = Math.min(h0 + p.kernelH(), g.h + p.padH()), w1 = Math.min(w0 + p.kernelW(), g.w + p.padW());
        int padded = (h1 - h0) * (w1 - w0);
        h0 = Math.max(h0, 0);
        w0 = Math.max(w0, 0);
        h1 = Math.min(h1, g.h);
        w1 = Math.min(w1, g.w);
        if (h0 >= h1 || w0 >= w1) {
            put(out, o, 0, g.f32);
            return;
        }
        double sum = 0;
        for (int h = h0; h < h1; h++) {
            long row = xOff + h * g.sy;
            for (int w = w0; w < w1; w++) sum += get(x, row + w * g.sx, g.f32);
        }
        int divisor = p.countIncludePad() ? padded : (h1 - h0) * (w1 - w0);
        put(out, o, sum / divisor, g.f32);
    }
}
