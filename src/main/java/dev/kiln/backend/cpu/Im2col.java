package dev.kiln.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Builds the column matrix of one image for conv2d as a GEMM:
 * <pre>
 * col [C*kh*kw, OH*OW]:  col[(c*kh + ki)*kw + kj, oh*OW + ow] = x[c, oh*sh - ph + ki*dh, ow*sw - pw + kj*dw]
 *                        (0 where that position falls in the padding)
 * </pre>
 * Copies are done on raw bytes, so one code path serves F32 and F64 (es = element size). Two routes:
 * <ul>
 *   <li>"same" stride-1 convs (OW == W) over a contiguous input plane: one bulk copy per column
 *   row (the shifted plane), then the few columns that wrapped across a row edge are zeroed;</li>
 *   <li>otherwise row by row: zero the padded ends, copy the valid middle (a bulk copy when both
 *   strides are 1, else an element loop).</li>
 * </ul>
 */
final class Im2col {
    private Im2col() {}

    /**
     * Fills col (byte offset colOff, row length g.p()) with channels [0, channels) of the image at
     * element offset xOff of x, whose channel/row/column strides (elements) are sc, sy, sx.
     */
    static void fill(ConvGeometry g, int channels, MemorySegment x, long xOff, long sc, long sy, long sx,
                     MemorySegment col, long colOff, int es) {
        boolean flat = sx == 1 && sy == g.w() && g.sw() == 1 && g.sh() == 1 && g.ow() == g.w();
        long rowBytes = (long) g.p() * es;
        for (int c = 0; c < channels; c++) {
            long plane = xOff + c * sc;
            for (int ki = 0; ki < g.kh(); ki++)
                for (int kj = 0; kj < g.kw(); kj++) {
                    long dst = colOff + ((long) (c * g.kh() + ki) * g.kw() + kj) * rowBytes;
                    if (flat) shiftedPlane(g, ki, kj, x, plane, col, dst, es);
                    else rows(g, ki, kj, x, plane, sy, sx, col, dst, es);
                }
        }
    }

    /** Stride 1, OW == W, contiguous plane: col row = the plane shifted by (dy, dx), edges zeroed. */
    private static void shiftedPlane(ConvGeometry g, int ki, int kj, MemorySegment x, long plane,
                                     MemorySegment col, long dst, int es) {
        int w = g.w(), h = g.h(), oh = g.oh();
        int dy = ki * g.dh() - g.ph(), dx = kj * g.dw() - g.pw();
        int oh0 = Math.max(0, -dy), oh1 = Math.min(oh, h - dy);
        if (oh0 >= oh1) {
            zero(col, dst, (long) oh * w * es);
            return;
        }
        zero(col, dst, (long) oh0 * w * es);
        zero(col, dst + (long) oh1 * w * es, (long) (oh - oh1) * w * es);
        // flat source range [s, e) relative to the plane, clipped to the plane
        long s = (long) (oh0 + dy) * w + dx, e = s + (long) (oh1 - oh0) * w;
        long cs = Math.max(s, 0), ce = Math.min(e, (long) h * w);
        if (ce > cs)
            MemorySegment.copy(x, (plane + cs) * es, col, dst + ((long) oh0 * w + (cs - s)) * es, (ce - cs) * es);
        // columns whose source wrapped into the neighbouring row (or off the clipped ends)
        if (dx != 0) {
            int z0 = dx < 0 ? 0 : w - dx, z1 = dx < 0 ? Math.min(-dx, w) : w;
            z0 = Math.max(z0, 0);
            for (int r = oh0; r < oh1; r++) zero(col, dst + ((long) r * w + z0) * es, (long) (z1 - z0) * es);
        }
    }

    /** General case, one output row at a time. */
    private static void rows(ConvGeometry g, int ki, int kj, MemorySegment x, long plane, long sy, long sx,
                             MemorySegment col, long dst, int es) {
        int ow = g.ow(), sw = g.sw();
        int off = kj * g.dw() - g.pw();                       // iw = ow*sw + off
        int lo = Math.min(ow, Math.max(0, ceilDiv(-off, sw)));  // first ow with iw >= 0
        int hi = Math.max(lo, Math.min(ow, Math.floorDiv(g.w() - 1 - off, sw) + 1)); // first ow with iw >= W
        long rowBytes = (long) ow * es;
        for (int r = 0; r < g.oh(); r++, dst += rowBytes) {
            int ih = r * g.sh() - g.ph() + ki * g.dh();
            if (ih < 0 || ih >= g.h()) {
                zero(col, dst, rowBytes);
                continue;
            }
            zero(col, dst, (long) lo * es);
            zero(col, dst + (long) hi * es, (long) (ow - hi) * es);
            long src = plane + ih * sy + ((long) lo * sw + off) * sx;
            copyStrided(x, src, (long) sw * sx, col, dst + (long) lo * es, hi - lo, es);
        }
    }

    private static int ceilDiv(int a, int b) { return -Math.floorDiv(-a, b); }

    /** n elements from x (element index src, element step) to col (byte offset dst), contiguous. */
    private static void copyStrided(MemorySegment x, long src, long step, MemorySegment col, long dst, int n, int es) {
        if (n <= 0) return;
        if (step == 1) {
            MemorySegment.copy(x, src * es, col, dst, (long) n * es);
        } else if (es == 4) {
            for (int i = 0; i < n; i++, src += step)
                col.set(ValueLayout.JAVA_INT_UNALIGNED, dst + 4L * i, x.get(ValueLayout.JAVA_INT_UNALIGNED, src * 4));
        } else {
            for (int i = 0; i < n; i++, src += step)
                col.set(ValueLayout.JAVA_LONG_UNALIGNED, dst + 8L * i, x.get(ValueLayout.JAVA_LONG_UNALIGNED, src * 8));
        }
    }

    private static void zero(MemorySegment seg, long off, long bytes) {
        if (bytes <= 0) return;
        if (bytes <= 64 && (bytes & 3) == 0) {
            for (long b = 0; b < bytes; b += 4) seg.set(ValueLayout.JAVA_INT_UNALIGNED, off + b, 0);
        } else {
            seg.asSlice(off, bytes).fill((byte) 0);
        }
    }
}
