package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

/**
 * The weight gradient of conv2d as im2col + GEMM (F32 / F64, gw contiguous):
 * <pre>
 * gw_g [og, kg] = sum_n  gy[n, g*og:(g+1)*og] [og, OH*OW] x col_g(x[n])^T [OH*OW, kg]
 *   kg = (C/groups)*kh*kw; col from {@link Im2col}; one GEMM per image (rank 3 over the group
 *   dim when groups > 1), beta = 1 after an image's first to accumulate over the batch
 * </pre>
 * The batch is cut into one contiguous range of images per thread; the first range accumulates
 * straight into gw, the others into partial sums that are added into gw at the end. 1x1 stride-1
 * unpadded convs skip im2col (the input plane is the column matrix). The scalar twin is
 * {@link ConvBackwardScalar}.
 */
final class ConvBackwardWeight {
    private ConvBackwardWeight() {}

    static void run(Tensor x, Tensor gy, ConvGeometry g, Tensor gw) {
        DType t = gw.dtype();
        boolean im2col = !(g.pointwise() && x.stride(2) == g.w() * x.stride(3));
        long colElems = (long) g.c() * g.kh() * g.kw() * g.p();
        long perImage = 2 * g.macsPerImage() + (im2col ? colElems : 0);
        int ranges = (int) Math.min(Math.min(CpuConfig.threads(), g.n()), Math.max(1, g.n() * perImage / 32_768));
        long part = (long) g.o() * g.kg();
        try (Tensor yc = gy.contiguous();
             Tensor parts = ranges > 1 ? Tensor.empty(gw.backend(), t, Math.toIntExact((ranges - 1) * part)) : null) {
            Parallel.forRange(ranges, perImage * g.n() / ranges, (s, e) -> {
                for (int r = s; r < e; r++) {
                    Storage dst = r == 0 ? gw.storage() : parts.storage();
                    long off = r == 0 ? gw.offset() : parts.offset() + (r - 1) * part;
                    images(x, yc, g, dst, off, r * g.n() / ranges, (r + 1) * g.n() / ranges, im2col);
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
