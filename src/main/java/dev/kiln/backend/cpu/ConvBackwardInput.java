package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * The input gradient of conv2d as GEMM + col2im (F32 / F64, gx contiguous):
 * <pre>
 * per image n, per group g:  col_g [kg, OH*OW] = w_g^T [kg, og] x gy[n, g*og:(g+1)*og] [og, OH*OW]
 *   then gx[n] = 0; {@link Col2im} scatter-adds col (all groups, [C*kh*kw, OH*OW]) into gx[n]
 * </pre>
 * One GEMM per image (rank 3 over the group dim when groups > 1). Images are spread over threads,
 * each with its own column buffer ({@link ConvScratch}); the GEMM itself only splits when one image
 * is big. F32 runs col2im on heap copies (see {@link #image}): about 1.6x faster than on segments. 1x1 stride-1 unpadded convs need no col2im: the GEMM writes gx[n] directly (one
 * batched GEMM for all images when groups = 1). The scalar twin is {@link ConvBackwardScalar}.
 */
final class ConvBackwardInput {
    private ConvBackwardInput() {}

    static void run(Tensor gy, Tensor w, ConvGeometry g, Tensor gx) {
        try (Tensor wc = w.contiguous(); Tensor yc = gy.contiguous(); Tensor a = ConvBackwardWeight.groupedWeight(wc, g)) {
            if (g.pointwise()) {
                if (g.groups() == 1 && g.n() > 1) pointwiseBatch(yc, a, g, gx);
                else forImages(yc, a, g, gx, false);
            } else {
                forImages(yc, a, g, gx, true);
            }
        }
    }

    /** Tests set this to run F32 col2im on segments too (the route of very large shapes). */
    static volatile boolean segmentsOnly;

    private static void forImages(Tensor gy, Tensor a, ConvGeometry g, Tensor gx, boolean col2im) {
        long colElems = (long) g.c() * g.kh() * g.kw() * g.p(), imgElems = (long) g.c() * g.h() * g.w();
        long cost = 2 * g.macsPerImage() + (col2im ? colElems + imgElems : 0);
        // F32 col2im on per-thread heap buffers, kept for reuse: only while they stay under 32 MB
        boolean heap = col2im && !segmentsOnly && gx.dtype() == DType.F32 && colElems + imgElems <= (1L << 23);
        Parallel.forRange(g.n(), cost, (s, e) -> {
            Tensor col = col2im ? ConvScratch.acquire(gx.dtype(), colElems) : null;
            try {
                Heap h = heap ? Heap.get(colElems, imgElems) : null;
                for (int n = s; n < e; n++) image(gy, a, g, gx, n, col, h);
            } finally {
                if (col != null) ConvScratch.release(col);
            }
        });
    }

    /**
     * One image: the GEMM into the column scratch (or straight into gx[n], pointwise), then col2im.
     * F32 copies the columns to the heap and adds them into a heap image copied out at the end (the
     * GEMM only ever sees native segments: mixing heap ones into its call sites would defeat the
     * Vector API intrinsics there).
     */
    private static void image(Tensor gy, Tensor a, ConvGeometry g, Tensor gx, int n, Tensor col, Heap h) {
        DType t = gx.dtype();
        int p = g.p();
        long yOff = gy.offset() + (long) n * g.o() * p;
        long xOff = gx.offset() + (long) n * g.c() * g.h() * g.w();
        try (Tensor b = ConvBackwardWeight.groupedRows(gy.storage(), t, g.groups(), g.og(), p, yOff, p, 1);
             Tensor c = col != null
                     ? ConvBackwardWeight.groupedRows(col.storage(), t, g.groups(), g.kg(), p, col.offset(), p, 1)
                     : ConvBackwardWeight.groupedRows(gx.storage(), t, g.groups(), g.cg(), p, xOff, p, 1)) {
            gy.backend().gemm(true, false, 1.0, a, b, 0.0, c);
        }
        if (col == null) return;
        MemorySegment xs = gx.segment();
        int imgElems = g.c() * g.h() * g.w();
        if (h != null) {
            MemorySegment.copy(col.segment(), Storage.F32, col.offset() * 4, h.col, 0, Math.toIntExact((long) g.kg() * g.groups() * p));
            java.util.Arrays.fill(h.img, 0, imgElems, 0f);
            Col2im.add(g, g.c(), h.col, h.img);
            MemorySegment.copy(h.img, 0, xs, Storage.F32, xOff * 4, imgElems);
            return;
        }
        int es = t.byteSize();
        xs.asSlice(xOff * es, (long) imgElems * es).fill((byte) 0);
        Col2im.add(g, g.c(), col.segment(), col.offset(), xs, xOff, (long) g.h() * g.w(), g.w(), 1, t == DType.F32);
    }

    /** Per-thread heap buffers of the F32 col2im: the column matrix and the image. */
    private static final class Heap {
        float[] col = new float[0], img = new float[0];

        private static final ThreadLocal<Heap> CACHE = ThreadLocal.withInitial(Heap::new);

        static Heap get(long colElems, long imgElems) {
            Heap h = CACHE.get();
            if (h.col.length < colElems) h.col = new float[Math.toIntExact(colElems)];
            if (h.img.length < imgElems) h.img = new float[Math.toIntExact(imgElems)];
            return h;
        }
    }

    /** 1x1, groups=1, several images: one batched GEMM gx[N: C x HW] = w^T [C x O] x gy[N: O x HW]. */
    private static void pointwiseBatch(Tensor gy, Tensor a, ConvGeometry g, Tensor gx) {
        int p = g.p();
        try (Tensor a3 = Tensor.of(a.storage(), a.dtype(), new int[]{g.n(), g.o(), g.c()}, new long[]{0, g.c(), 1}, a.offset());
             Tensor b3 = Tensor.of(gy.storage(), gy.dtype(), new int[]{g.n(), g.o(), p},
                     new long[]{(long) g.o() * p, p, 1}, gy.offset());
             Tensor c3 = Tensor.of(gx.storage(), gx.dtype(), new int[]{g.n(), g.c(), p},
                     new long[]{(long) g.c() * p, p, 1}, gx.offset())) {
            gy.backend().gemm(true, false, 1.0, a3, b3, 0.0, c3);
        }
    }
}
