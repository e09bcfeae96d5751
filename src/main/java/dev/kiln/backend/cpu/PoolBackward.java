package dev.kiln.backend.cpu;

import dev.kiln.ops.Pool2dParams;
import dev.kiln.ops.PoolOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * The gradient of max and average pooling (F32 / F64): gx [N,C,H,W] (contiguous, overwritten)
 * from gy [N,C,OH,OW] (any strides), planes (n, c) spread over threads. Each plane is zeroed and
 * then scattered into while it is in cache:
 * <pre>
 * MAX: gx[plane, indices[n,c,oh,ow]] += gy[n,c,oh,ow]   (indices = h*W + w from the forward)
 * AVG: gx[plane, h, w] += gy[n,c,oh,ow] / divisor for (h, w) in the window clipped to the input,
 *      window and divisor as in the forward ({@link PoolKernels}): the window is first clipped to
 *      the padded input [-ph, H+ph) (ceil mode can run past it); divisor = that clipped size when
 *      countIncludePad, else the number of positions inside the input
 * </pre>
 * Scatter loops are scalar by nature, so there is no vector path (and no twin). F32 planes that are
 * contiguous go through per-thread heap arrays (bulk copies in and out, the scatter on int-indexed
 * arrays, several times faster than per-element segment access); anything else runs on segments.
 */
final class PoolBackward {
    private PoolBackward() {}

    /** Per-call sizes; gy and indices strides in elements. */
    private record Planes(int c, int h, int w, int oh, int ow, long[] ys, long[] is, Pool2dParams p, boolean f32) {}

    static void run(PoolOp op, Tensor gy, Tensor indices, Pool2dParams p, Tensor gx) {
        int[] xs = gx.shape(), os = gy.shape();
        Planes g = new Planes(xs[1], xs[2], xs[3], os[2], os[3], gy.strides(),
                indices == null ? null : indices.strides(), p, gx.dtype() == DType.F32);
        int planes = xs[0] * xs[1];
        long planeIn = (long) g.h * g.w, planeOut = (long) g.oh * g.ow;
        MemorySegment ys = gy.segment(), xseg = gx.segment(), iseg = indices == null ? null : indices.segment();
        long window = op == PoolOp.MAX ? 1 : (long) p.kernelH() * p.kernelW();
        boolean heap = g.f32 && planeIn + planeOut <= (1L << 22) && g.ys[3] == 1 && g.ys[2] == g.ow
                && (indices == null || (g.is[3] == 1 && g.is[2] == g.ow));
        Parallel.forRange(planes, planeIn + planeOut * window, (s, e) -> {
            Heap h = heap ? Heap.get((int) planeIn, (int) planeOut) : null;
            for (int pl = s; pl < e; pl++) {
                int n = pl / g.c, c = pl % g.c;
                long xOff = gx.offset() + pl * planeIn;
                long yOff = gy.offset() + n * g.ys[0] + c * g.ys[1];
                long iOff = indices == null ? 0 : indices.offset() + n * g.is[0] + c * g.is[1];
                if (heap) {
                    planeF32(op, g, ys, yOff, iseg, iOff, xseg, xOff, h);
                    continue;
                }
                int es = g.f32 ? 4 : 8;
                xseg.asSlice(xOff * es, planeIn * es).fill((byte) 0);
                if (op == PoolOp.MAX) maxPlane(g, ys, yOff, iseg, iOff, xseg, xOff);
                else avgPlane(g, ys, yOff, xseg, xOff);
            }
        });
    }

    // ------------------------------------------------------------------ F32, contiguous planes: on the heap

    /** Per-thread heap copies of one plane: gy, indices and the gradient being scattered into. */
    private static final class Heap {
        float[] gy = new float[0], plane = new float[0];
        long[] idx = new long[0];

        private static final ThreadLocal<Heap> CACHE = ThreadLocal.withInitial(Heap::new);

        static Heap get(int in, int out) {
            Heap h = CACHE.get();
            if (h.plane.length < in) h.plane = new float[in];
            if (h.gy.length < out) {
                h.gy = new float[out];
                h.idx = new long[out];
            }
            return h;
        }
    }

    /** One plane through heap arrays: bulk copies in, the scatter on int-indexed arrays, one bulk copy out. */
    private static void planeF32(PoolOp op, Planes g, MemorySegment ys, long yOff, MemorySegment is, long iOff,
                                 MemorySegment xs, long xOff, Heap h) {
        int in = g.h * g.w, out = g.oh * g.ow;
        float[] gv = h.gy, plane = h.plane;
        MemorySegment.copy(ys, Storage.F32, yOff * 4, gv, 0, out);
        java.util.Arrays.fill(plane, 0, in, 0f);
        if (op == PoolOp.MAX) {
            long[] idx = h.idx;
            MemorySegment.copy(is, Storage.I64, iOff * 8, idx, 0, out);
            for (int i = 0; i < out; i++) {
                long at = idx[i];
                if (at < 0 || at >= in) throw badIndex(g, at, i / g.ow, i % g.ow);
                plane[(int) at] += gv[i];
            }
        } else {
            avgPlane(g, gv, plane);
        }
        MemorySegment.copy(plane, 0, xs, Storage.F32, xOff * 4, in);
    }

    private static void avgPlane(Planes g, float[] gv, float[] plane) {
        Pool2dParams p = g.p;
        for (int oh = 0; oh < g.oh; oh++) {
            int h0 = oh * p.strideH() - p.padH();
            int h1 = Math.min(h0 + p.kernelH(), g.h + p.padH());
            for (int ow = 0; ow < g.ow; ow++) {
                int w0 = ow * p.strideW() - p.padW();
                int w1 = Math.min(w0 + p.kernelW(), g.w + p.padW());
                int padded = (h1 - h0) * (w1 - w0);
                int a0 = Math.max(h0, 0), a1 = Math.min(h1, g.h), b0 = Math.max(w0, 0), b1 = Math.min(w1, g.w);
                if (a0 >= a1 || b0 >= b1) continue;
                int divisor = p.countIncludePad() ? padded : (a1 - a0) * (b1 - b0);
                float v = (float) ((double) gv[oh * g.ow + ow] / divisor);
                for (int y = a0; y < a1; y++)
                    for (int x = b0; x < b1; x++) plane[y * g.w + x] += v;
            }
        }
    }

    private static IllegalArgumentException badIndex(Planes g, long at, int oh, int ow) {
        return new IllegalArgumentException("max_pool2d backward: index " + at + " at output (" + oh + ", " + ow
                + ") is outside the " + g.h + "x" + g.w + " input plane");
    }

    // ------------------------------------------------------------------ any layout: on segments

    private static double get(MemorySegment s, long i, boolean f32) {
        return f32 ? s.getAtIndex(Storage.F32, i) : s.getAtIndex(Storage.F64, i);
    }

    private static void add(MemorySegment s, long i, double v, boolean f32) {
        if (f32) s.setAtIndex(Storage.F32, i, s.getAtIndex(Storage.F32, i) + (float) v);
        else s.setAtIndex(Storage.F64, i, s.getAtIndex(Storage.F64, i) + v);
    }

    private static void maxPlane(Planes g, MemorySegment ys, long yOff, MemorySegment is, long iOff,
                                 MemorySegment xs, long xOff) {
        long size = (long) g.h * g.w;
        for (int oh = 0; oh < g.oh; oh++) {
            long yRow = yOff + oh * g.ys[2], iRow = iOff + oh * g.is[2];
            for (int ow = 0; ow < g.ow; ow++) {
                long at = is.getAtIndex(Storage.I64, iRow + ow * g.is[3]);
                if (at < 0 || at >= size) throw badIndex(g, at, oh, ow);
                add(xs, xOff + at, get(ys, yRow + ow * g.ys[3], g.f32), g.f32);
            }
        }
    }

    private static void avgPlane(Planes g, MemorySegment ys, long yOff, MemorySegment xs, long xOff) {
        Pool2dParams p = g.p;
        for (int oh = 0; oh < g.oh; oh++) {
            int h0 = oh * p.strideH() - p.padH();
            int h1 = Math.min(h0 + p.kernelH(), g.h + p.padH());
            for (int ow = 0; ow < g.ow; ow++) {
                int w0 = ow * p.strideW() - p.padW();
                int w1 = Math.min(w0 + p.kernelW(), g.w + p.padW());
                int padded = (h1 - h0) * (w1 - w0);
                int a0 = Math.max(h0, 0), a1 = Math.min(h1, g.h), b0 = Math.max(w0, 0), b1 = Math.min(w1, g.w);
                if (a0 >= a1 || b0 >= b1) continue;
                int divisor = p.countIncludePad() ? padded : (a1 - a0) * (b1 - b0);
                double v = get(ys, yOff + oh * g.ys[2] + ow * g.ys[3], g.f32) / divisor;
                for (int h = a0; h < a1; h++) {
                    long row = xOff + (long) h * g.w;
                    for (int w = b0; w < b1; w++) add(xs, row + w, v, g.f32);
                }
            }
        }
    }
}
