package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * The weight gradient of conv2d (gw contiguous), a sum over the batch of per-image products:
 * <pre>
 * gw_g [og, kg] = sum_n  gy[n, g*og:(g+1)*og] [og, OH*OW] x col_g(x[n])^T [OH*OW, kg]
 *   kg = (C/groups)*kh*kw; col from {@link Im2col} (1x1 stride-1 unpadded convs use the input
 *   planes themselves)
 * </pre>
 * Both factors run along OH*OW, so the product is a block of dot products. Two routes:
 * <ul>
 *   <li>F32: {@link ConvBackwardDots} on heap copies of each image's rows (zero-padded to whole
 *   vectors), summing the batch in lane accumulators: no packing, no transposition. Measured 1.5x
 *   (CNN layer 2) to 6x (CNN layer 1, kg = 9) faster than the GEMM route;</li>
 *   <li>F64 (and shapes too big for {@link #dotsFit}): one GEMM per image through the backend
 *   (rank 3 over the group dim when groups > 1), beta = 1 after a range's first image.</li>
 * </ul>
 * The batch is cut into one contiguous range of images per thread, each with its own partial sum;
 * the partial sums are added at the end. The scalar twin is {@link ConvBackwardScalar}.
 */
final class ConvBackwardWeight {
    private ConvBackwardWeight() {}

    /** Tests set this to run F32 through the GEMM route too. */
    static volatile boolean gemmOnly;

    static void run(Tensor x, Tensor gy, ConvGeometry g, Tensor gw) {
        try (Tensor yc = gy.contiguous()) {
            if (gw.dtype() == DType.F32 && !gemmOnly && dotsFit(g)) runDots(x, yc, g, gw);
            else runGemm(x, yc, g, gw);
        }
    }

    /** Threads for the batch: one contiguous range of images each, when there is enough work. */
    private static int ranges(ConvGeometry g, long perImage) {
        return (int) Math.min(Math.min(CpuConfig.threads(), g.n()), Math.max(1, g.n() * perImage / 32_768));
    }

    private static long colElems(ConvGeometry g) { return (long) g.c() * g.kh() * g.kw() * g.p(); }

    /** F32: per range, sums from {@link ConvBackwardDots}; the ranges are then added into gw. */
    private static void runDots(Tensor x, Tensor gy, ConvGeometry g, Tensor gw) {
        boolean im2col = !(g.pointwise() && x.stride(3) == 1 && x.stride(2) == g.w());
        long perImage = 2 * g.macsPerImage() + (im2col ? colElems(g) : 0);
        int ranges = ranges(g, perImage);
        float[][] sums = new float[ranges][];
        Parallel.forRange(ranges, perImage * g.n() / ranges, (s, e) -> {
            for (int r = s; r < e; r++) sums[r] = dotsRange(x, gy, g, r * g.n() / ranges, (r + 1) * g.n() / ranges, im2col);
        });
        for (int r = 1; r < ranges; r++)
            for (int i = 0; i < sums[0].length; i++) sums[0][i] += sums[r][i];
        MemorySegment.copy(sums[0], 0, gw.segment(), Storage.F32, gw.offset() * 4, sums[0].length);
    }

    /** The F32 path's per-thread heap buffers (grown on demand, contents undefined between calls). */
    private static final class Buffers {
        float[] cols = new float[0], rows = new float[0], lanes = new float[0];
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    private static float[] atLeast(float[] a, long n) { return a.length >= n ? a : new float[Math.toIntExact(n)]; }

    /**
     * The F32 path keeps its buffers per thread for reuse, so it takes only shapes whose rows fit
     * 32 MB and whose lane sums fit 16 MB; bigger ones take the GEMM route (its scratch is bounded).
     */
    static boolean dotsFit(ConvGeometry g) {
        long pp = padded(g.p());
        return ((long) g.c() * g.kh() * g.kw() + g.o()) * pp <= (1L << 23)
                && (long) g.o() * g.kg() * ConvBackwardDots.L <= (1L << 22);
    }

    private static int padded(int p) { return (p + ConvBackwardDots.L - 1) / ConvBackwardDots.L * ConvBackwardDots.L; }

    /**
     * The weight gradient [O, kg] of images [n0, n1). Per image, the column rows (im2col into native
     * scratch, or the input planes for pointwise convs) and the gy rows are copied into heap arrays
     * with rows padded by zeros to a multiple of the vector length, then {@link ConvBackwardDots}
     * runs per group. (Im2col only ever writes native segments: heap ones at its call sites would
     * pollute the forward conv's profile.)
     */
    private static float[] dotsRange(Tensor x, Tensor gy, ConvGeometry g, int n0, int n1, boolean im2col) {
        int p = g.p(), pp = padded(p), rowsB = im2col ? g.c() * g.kh() * g.kw() : g.c();
        int slots = g.o() * g.kg();
        Buffers buf = BUFFERS.get();
        float[] cols = buf.cols = atLeast(buf.cols, (long) rowsB * pp), rows = buf.rows = atLeast(buf.rows, (long) g.o() * pp);
        float[] lanes = buf.lanes = atLeast(buf.lanes, (long) slots * ConvBackwardDots.L);
        java.util.Arrays.fill(lanes, 0, slots * ConvBackwardDots.L, 0f);
        if (pp != p) {
            for (int r = 0; r < rowsB; r++) java.util.Arrays.fill(cols, r * pp + p, (r + 1) * pp, 0f);
            for (int r = 0; r < g.o(); r++) java.util.Arrays.fill(rows, r * pp + p, (r + 1) * pp, 0f);
        }
        Tensor raw = im2col ? ConvScratch.acquire(DType.F32, colElems(g)) : null;
        try {
            long[] st = x.strides();
            for (int n = n0; n < n1; n++) {
                long xOff = x.offset() + n * st[0];
                if (im2col) {
                    Im2col.fill(g, g.c(), x.segment(), xOff, st[1], st[2], st[3], raw.segment(), raw.offset() * 4, 4);
                    copyRows(raw.segment(), raw.offset(), p, rowsB, p, cols, pp);
                } else {
                    copyRows(x.segment(), xOff, st[1], rowsB, p, cols, pp);
                }
                copyRows(gy.segment(), gy.offset() + (long) n * g.o() * p, p, g.o(), p, rows, pp);
                for (int grp = 0; grp < g.groups(); grp++)
                    ConvBackwardDots.accumulate(rows, grp * g.og() * pp, pp, cols, grp * g.kg() * pp, pp,
                            g.og(), g.kg(), pp, lanes, grp * g.og() * g.kg(), g.kg());
            }
        } finally {
            if (raw != null) ConvScratch.release(raw);
        }
        float[] sums = new float[slots];
        ConvBackwardDots.reduce(lanes, slots, sums);
        return sums;
    }

    /** count rows of len F32 elements from seg (element offset off, row stride ld) into dst rows of stride dld. */
    private static void copyRows(MemorySegment seg, long off, long ld, int count, int len, float[] dst, int dld) {
        if (ld == len && dld == len) {
            MemorySegment.copy(seg, Storage.F32, off * 4, dst, 0, count * len);
            return;
        }
        for (int r = 0; r < count; r++) MemorySegment.copy(seg, Storage.F32, (off + r * ld) * 4, dst, r * dld, len);
    }

    /** F64: im2col + GEMM, the first range straight into gw, the others into partial sums added at the end. */
    private static void runGemm(Tensor x, Tensor gy, ConvGeometry g, Tensor gw) {
        DType t = gw.dtype();
        boolean im2col = !(g.pointwise() && x.stride(2) == g.w() * x.stride(3));
        long perImage = 2 * g.macsPerImage() + (im2col ? colElems(g) : 0);
        int ranges = ranges(g, perImage);
        long part = (long) g.o() * g.kg();
        try (Tensor parts = ranges > 1 ? Tensor.empty(gw.backend(), t, Math.toIntExact((ranges - 1) * part)) : null) {
            Parallel.forRange(ranges, perImage * g.n() / ranges, (s, e) -> {
                for (int r = s; r < e; r++) {
                    Storage dst = r == 0 ? gw.storage() : parts.storage();
                    long off = r == 0 ? gw.offset() : parts.offset() + (r - 1) * part;
                    images(x, gy, g, dst, off, r * g.n() / ranges, (r + 1) * g.n() / ranges, im2col);
                }
            });
            for (int r = 1; r < ranges; r++)
                Col2im.addRow(parts.segment(), parts.offset() + (r - 1) * part, gw.segment(), gw.offset(), (int) part,
                        t == DType.F32);
        }
    }

    /** dst [O, kg] (element offset off) = sum of the weight gradients of images [n0, n1). */
    private static void images(Tensor x, Tensor gy, ConvGeometry g, Storage dst, long off, int n0, int n1, boolean im2col) {
        DType t = x.dtype();
        int p = g.p();
        long[] xs = x.strides();
        Tensor col = im2col ? ConvScratch.acquire(t, (long) g.c() * g.kh() * g.kw() * p) : null;
        try (Tensor c = groupedRows(dst, t, g.groups(), g.og(), g.kg(), off, g.kg(), 1)) {
            for (int n = n0; n < n1; n++) {
                long xOff = x.offset() + n * xs[0];
                Tensor b;
                if (col != null) {
                    Im2col.fill(g, g.c(), x.segment(), xOff, xs[1], xs[2], xs[3], col.segment(),
                            col.offset() * t.byteSize(), t.byteSize());
                    b = groupedRows(col.storage(), t, g.groups(), g.kg(), p, col.offset(), p, 1);
                } else {
                    b = groupedRows(x.storage(), t, g.groups(), g.cg(), p, xOff, xs[1], xs[3]);
                }
                try (b; Tensor a = groupedRows(gy.storage(), t, g.groups(), g.og(), p, gy.offset() + (long) n * g.o() * p, p, 1)) {
                    x.backend().gemm(false, true, 1.0, a, b, n == n0 ? 0.0 : 1.0, c);
                }
            }
        } finally {
            if (col != null) ConvScratch.release(col);
        }
    }

    /** The (contiguous) weight as [og, kg], with a group dim in front when groups > 1. */
    static Tensor groupedWeight(Tensor wc, ConvGeometry g) {
        return groupedRows(wc.storage(), wc.dtype(), g.groups(), g.og(), g.kg(), wc.offset(), g.kg(), 1);
    }

    /**
     * A [rows, cols] matrix view (row/column strides rs, cs) at element offset off, or
     * [groups, rows, cols] with group stride rows*rs when groups > 1.
     */
    static Tensor groupedRows(Storage s, DType t, int groups, int rows, int cols, long off, long rs, long cs) {
        if (groups == 1) return Tensor.of(s, t, new int[]{rows, cols}, new long[]{rs, cs}, off);
        return Tensor.of(s, t, new int[]{groups, rows, cols}, new long[]{rows * rs, rs, cs}, off);
    }
}
