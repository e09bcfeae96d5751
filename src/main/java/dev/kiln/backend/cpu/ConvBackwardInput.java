package dev.kiln.backend.cpu;

import dev.kiln.backend.Backends;
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
 * is big. 1x1 stride-1 unpadded convs need no col2im: the GEMM writes gx[n] directly (one
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

    private static void forImages(Tensor gy, Tensor a, ConvGeometry g, Tensor gx, boolean col2im) {
        long colElems = (long) g.c() * g.kh() * g.kw() * g.p(), imgElems = (long) g.c() * g.h() * g.w();
        long cost = 2 * g.macsPerImage() + (col2im ? colElems + imgElems : 0);
        boolean heap = col2im && gx.dtype() == DType.F32 && colElems + imgElems < (1L << 28);
        Parallel.forRange(g.n(), cost, (s, e) -> {
            if (heap) {
                Heap h = Heap.get(colElems, imgElems);
                for (int n = s; n < e; n++) imageHeap(gy, a, g, gx, n, h);
                return;
            }
            Tensor col = col2im ? ConvScratch.acquire(gx.dtype(), colElems) : null;
            try {
                for (int n = s; n < e; n++) image(gy, a, g, gx, n, col);
            } finally {
                if (col != null) ConvScratch.release(col);
            }
        });
    }

    /** One image's GEMM into c: the column matrix [groups: kg, P] (or gx[n] itself, pointwise). */
    private static void gemm(Tensor gy, Tensor a, ConvGeometry g, int n, Storage c, long cOff, int cRows) {
        DType t = gy.dtype();
        int p = g.p();
        long yOff = gy.offset() + (long) n * g.o() * p;
        try (Tensor b = ConvBackwardWeight.groupedRows(gy.storage(), t, g.groups(), g.og(), p, yOff, p, 1);
             Tensor ct = ConvBackwardWeight.groupedRows(c, t, g.groups(), cRows, p, cOff, p, 1)) {
            gy.backend().gemm(true, false, 1.0, a, b, 0.0, ct);
        }
    }

    /** Any float type: columns in a segment scratch (or none, pointwise), col2im on segments. */
    private static void image(Tensor gy, Tensor a, ConvGeometry g, Tensor gx, int n, Tensor col) {
        DType t = gx.dtype();
        long xOff = gx.offset() + (long) n * g.c() * g.h() * g.w();
        if (col == null) {
            gemm(gy, a, g, n, gx.storage(), xOff, g.cg());
            return;
        }
        gemm(gy, a, g, n, col.storage(), col.offset(), g.kg());
        MemorySegment xs = gx.segment();
        int es = t.byteSize();
        xs.asSlice(xOff * es, (long) g.c() * g.h() * g.w() * es).fill((byte) 0);
        Col2im.add(g, g.c(), col.segment(), col.offset(), xs, xOff, (long) g.h() * g.w(), g.w(), 1, t == DType.F32);
    }

    /** F32: the GEMM writes a heap column matrix, col2im adds it into a heap image copied out at the end. */
    private static void imageHeap(Tensor gy, Tensor a, ConvGeometry g, Tensor gx, int n, Heap h) {
        int imgElems = g.c() * g.h() * g.w();
        gemm(gy, a, g, n, h.storage, 0, g.kg());
        java.util.Arrays.fill(h.img, 0, imgElems, 0f);
        Col2im.add(g, g.c(), h.col, h.img);
        MemorySegment.copy(h.img, 0, gx.segment(), Storage.F32, (gx.offset() + (long) n * imgElems) * 4, imgElems);
    }

    /** Per-thread heap buffers of the F32 route: the column matrix (wrapped as a storage for the GEMM) and the image. */
    private static final class Heap {
        float[] col = new float[0], img = new float[0];
        Storage storage;

        private static final ThreadLocal<Heap> CACHE = ThreadLocal.withInitial(Heap::new);

        static Heap get(long colElems, long imgElems) {
            Heap h = CACHE.get();
            if (h.col.length < colElems) {
                h.col = new float[Math.toIntExact(colElems)];
                h.storage = Storage.wrap(Backends.cpu(), MemorySegment.ofArray(h.col));
            }
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
