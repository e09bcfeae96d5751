package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The adjoint of {@link Im2col}: scatter-adds the column matrix of one image back into the image,
 * for the input gradient of conv2d.
 * <pre>
 * col [C*kh*kw, OH*OW]:  x[c, oh*sh - ph + ki*dh, ow*sw - pw + kj*dw] += col[(c*kh + ki)*kw + kj, oh*OW + ow]
 *                        (entries that fall in the padding are dropped)
 * </pre>
 * x must be zeroed (or hold what to add to) beforehand. Two routes, as in Im2col:
 * <ul>
 *   <li>"same" stride-1 convs (OW == W) over contiguous input planes: the whole column row is added
 *   to the shifted plane as one flat vector loop, so short image rows still vectorize; the entries
 *   that would wrap across a row edge are dropped (zeroed in col beforehand on segments, ANDed
 *   with a bit mask on the heap route: a per-element zeroing loop cost more than the adds);</li>
 *   <li>otherwise row by row: the valid middle of each output row is added (a vector loop when
 *   both column strides are 1, else an element loop).</li>
 * </ul>
 * F32 runs on heap arrays (column matrix and image accumulator), where the vector loops are
 * cheap; F64 (and any strides) runs on memory segments. The vector loops' scalar twin is
 * {@link ConvBackwardScalar} (the whole kernel switches).
 */
final class Col2im {
    private Col2im() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * Adds col (element offset colOff, row length g.p()) into channels [0, channels) of the image at
     * element offset xOff of x, whose channel/row/column strides (elements) are sc, sy, sx.
     */
    static void add(ConvGeometry g, int channels, MemorySegment col, long colOff, MemorySegment x, long xOff,
                    long sc, long sy, long sx, boolean f32) {
        boolean flat = sx == 1 && sy == g.w() && g.sw() == 1 && g.sh() == 1 && g.ow() == g.w();
        long p = g.p();
        for (int c = 0; c < channels; c++) {
            long plane = xOff + c * sc;
            for (int ki = 0; ki < g.kh(); ki++)
                for (int kj = 0; kj < g.kw(); kj++) {
                    long src = colOff + ((long) (c * g.kh() + ki) * g.kw() + kj) * p;
                    if (flat) shiftedPlane(g, ki, kj, col, src, x, plane, f32);
                    else rows(g, ki, kj, col, src, x, plane, sy, sx, f32);
                }
        }
    }

    /** Stride 1, OW == W, contiguous plane: the plane shifted by (dy, dx) += the col row, wrapped entries dropped. */
    private static void shiftedPlane(ConvGeometry g, int ki, int kj, MemorySegment col, long src,
                                     MemorySegment x, long plane, boolean f32) {
        int w = g.w(), h = g.h();
        int dy = ki * g.dh() - g.ph(), dx = kj * g.dw() - g.pw();
        int oh0 = Math.max(0, -dy), oh1 = Math.min(g.oh(), h - dy);
        if (oh0 >= oh1) return;
        if (dx != 0) {
            // columns whose target wrapped into the neighbouring row: zero them so the flat add skips them
            int z0 = Math.max(dx < 0 ? 0 : w - dx, 0), z1 = dx < 0 ? Math.min(-dx, w) : w;
            for (int r = oh0; r < oh1; r++) zero(col, src + (long) r * w + z0, z1 - z0, f32);
        }
        // flat target range [t, t + len) relative to the plane, clipped to the plane
        long s = (long) oh0 * w, len = (long) (oh1 - oh0) * w;
        long t = s + (long) dy * w + dx;
        long cs = Math.max(t, 0), ce = Math.min(t + len, (long) h * w);
        if (ce > cs) addRow(col, src + s + (cs - t), x, plane + cs, (int) (ce - cs), f32);
    }

    /** General case, one output row at a time. */
    private static void rows(ConvGeometry g, int ki, int kj, MemorySegment col, long src, MemorySegment x,
                             long plane, long sy, long sx, boolean f32) {
        int ow = g.ow(), sw = g.sw();
        int off = kj * g.dw() - g.pw();                       // iw = ow*sw + off
        int lo = Math.min(ow, Math.max(0, ceilDiv(-off, sw)));  // first ow with iw >= 0
        int hi = Math.max(lo, Math.min(ow, Math.floorDiv(g.w() - 1 - off, sw) + 1)); // first ow with iw >= W
        if (lo >= hi) return;
        long step = (long) sw * sx;
        for (int r = 0; r < g.oh(); r++, src += ow) {
            int ih = r * g.sh() - g.ph() + ki * g.dh();
            if (ih < 0 || ih >= g.h()) continue;
            long dst = plane + ih * sy + ((long) lo * sw + off) * sx;
            if (step == 1) addRow(col, src + lo, x, dst, hi - lo, f32);
            else addStrided(col, src + lo, x, dst, step, hi - lo, f32);
        }
    }

    private static int ceilDiv(int a, int b) { return -Math.floorDiv(-a, b); }

    // ------------------------------------------------------------------ F32 on heap arrays

    /**
     * The F32 route on heap arrays (int-indexed vector loops, whose bounds checks C2 hoists): adds
     * col (row length g.p()) into img, channels [0, channels) of one image as contiguous planes.
     */
    static void add(ConvGeometry g, int channels, float[] col, float[] img) {
        boolean flat = g.sw() == 1 && g.sh() == 1 && g.ow() == g.w();
        int p = g.p(), plane = g.h() * g.w();
        int[][] keep = flat ? keepMasks(g) : null;
        for (int c = 0; c < channels; c++)
            for (int ki = 0; ki < g.kh(); ki++)
                for (int kj = 0; kj < g.kw(); kj++) {
                    int src = ((c * g.kh() + ki) * g.kw() + kj) * p;
                    if (flat) shiftedPlane(g, ki, kj, col, src, img, c * plane, keep[kj]);
                    else rows(g, ki, kj, col, src, img, c * plane);
                }
    }

    /**
     * For each kernel column kj of the flat route, the bit mask over a column row (length g.p()):
     * all ones where the target column ow + dx stays inside the row, 0 where it wraps; null when
     * nothing wraps (dx = 0). ANDing with it drops the wrapped entries exactly (even NaN or inf).
     */
    private static int[][] keepMasks(ConvGeometry g) {
        int[][] keep = new int[g.kw()][];
        int w = g.w();
        for (int kj = 0; kj < g.kw(); kj++) {
            int dx = kj * g.dw() - g.pw();
            if (dx == 0) continue;
            int[] m = keep[kj] = new int[g.p()];
            for (int q = 0; q < m.length; q += w)
                for (int x = Math.max(0, -dx); x < Math.min(w, w - dx); x++) m[q + x] = -1;
        }
        return keep;
    }

    private static void shiftedPlane(ConvGeometry g, int ki, int kj, float[] col, int src, float[] img, int plane, int[] keep) {
        int w = g.w(), h = g.h();
        int dy = ki * g.dh() - g.ph(), dx = kj * g.dw() - g.pw();
        int oh0 = Math.max(0, -dy), oh1 = Math.min(g.oh(), h - dy);
        if (oh0 >= oh1) return;
        int s = oh0 * w, len = (oh1 - oh0) * w, t = s + dy * w + dx;
        int cs = Math.max(t, 0), ce = Math.min(t + len, h * w);
        if (ce <= cs) return;
        int from = s + (cs - t);
        if (keep == null) addRow(col, src + from, img, plane + cs, ce - cs);
        else addRowMasked(col, src + from, keep, from, img, plane + cs, ce - cs);
    }

    private static void rows(ConvGeometry g, int ki, int kj, float[] col, int src, float[] img, int plane) {
        int ow = g.ow(), sw = g.sw();
        int off = kj * g.dw() - g.pw();
        int lo = Math.min(ow, Math.max(0, ceilDiv(-off, sw)));
        int hi = Math.max(lo, Math.min(ow, Math.floorDiv(g.w() - 1 - off, sw) + 1));
        if (lo >= hi) return;
        for (int r = 0; r < g.oh(); r++, src += ow) {
            int ih = r * g.sh() - g.ph() + ki * g.dh();
            if (ih < 0 || ih >= g.h()) continue;
            int dst = plane + ih * g.w() + lo * sw + off;
            if (sw == 1) {
                addRow(col, src + lo, img, dst, hi - lo);
            } else {
                for (int i = lo; i < hi; i++, dst += sw) img[dst] += col[src + i];
            }
        }
    }

    /** img[d + i] += col[s + i] for i < n. */
    private static void addRow(float[] col, int s, float[] img, int d, int n) {
        var sp = CpuConfig.F32;
        int i = 0;
        for (int l = sp.length(); i + l <= n; i += l)
            FloatVector.fromArray(sp, img, d + i).add(FloatVector.fromArray(sp, col, s + i)).intoArray(img, d + i);
        for (; i < n; i++) img[d + i] += col[s + i];
    }

    /** img[d + i] += col[s + i] where keep[k + i] is all ones, for i < n. */
    private static void addRowMasked(float[] col, int s, int[] keep, int k, float[] img, int d, int n) {
        var sp = CpuConfig.F32;
        int i = 0;
        for (int l = sp.length(); i + l <= n; i += l) {
            FloatVector v = FloatVector.fromArray(sp, col, s + i).reinterpretAsInts()
                    .and(IntVector.fromArray(I32, keep, k + i)).reinterpretAsFloats();
            FloatVector.fromArray(sp, img, d + i).add(v).intoArray(img, d + i);
        }
        for (; i < n; i++) if (keep[k + i] != 0) img[d + i] += col[s + i];
    }

    private static final VectorSpecies<Integer> I32 = VectorSpecies.of(int.class, CpuConfig.F32.vectorShape());

    // ------------------------------------------------------------------ any float type on segments

    /** x[dst + i] += col[src + i] for i < n (element indices). */
    static void addRow(MemorySegment col, long src, MemorySegment x, long dst, int n, boolean f32) {
        if (f32) addF32(col, src, x, dst, n);
        else addF64(col, src, x, dst, n);
    }

    private static void addF32(MemorySegment col, long src, MemorySegment x, long dst, int n) {
        var sp = CpuConfig.F32;
        int i = 0;
        for (int l = sp.length(); i + l <= n; i += l) {
            long sb = (src + i) * 4, db = (dst + i) * 4;
            FloatVector.fromMemorySegment(sp, x, db, LE).add(FloatVector.fromMemorySegment(sp, col, sb, LE))
                    .intoMemorySegment(x, db, LE);
        }
        for (; i < n; i++)
            x.setAtIndex(Storage.F32, dst + i, x.getAtIndex(Storage.F32, dst + i) + col.getAtIndex(Storage.F32, src + i));
    }

    private static void addF64(MemorySegment col, long src, MemorySegment x, long dst, int n) {
        var sp = CpuConfig.F64;
        int i = 0;
        for (int l = sp.length(); i + l <= n; i += l) {
            long sb = (src + i) * 8, db = (dst + i) * 8;
            DoubleVector.fromMemorySegment(sp, x, db, LE).add(DoubleVector.fromMemorySegment(sp, col, sb, LE))
                    .intoMemorySegment(x, db, LE);
        }
        for (; i < n; i++)
            x.setAtIndex(Storage.F64, dst + i, x.getAtIndex(Storage.F64, dst + i) + col.getAtIndex(Storage.F64, src + i));
    }

    /** x[dst + i*step] += col[src + i] for i < n. */
    private static void addStrided(MemorySegment col, long src, MemorySegment x, long dst, long step, int n, boolean f32) {
        if (f32) {
            for (int i = 0; i < n; i++, dst += step)
                x.setAtIndex(Storage.F32, dst, x.getAtIndex(Storage.F32, dst) + col.getAtIndex(Storage.F32, src + i));
        } else {
            for (int i = 0; i < n; i++, dst += step)
                x.setAtIndex(Storage.F64, dst, x.getAtIndex(Storage.F64, dst) + col.getAtIndex(Storage.F64, src + i));
        }
    }

    private static void zero(MemorySegment seg, long at, int n, boolean f32) {
        if (f32) for (int i = 0; i < n; i++) seg.setAtIndex(Storage.F32, at + i, 0f);
        else for (int i = 0; i < n; i++) seg.setAtIndex(Storage.F64, at + i, 0.0);
    }
}
