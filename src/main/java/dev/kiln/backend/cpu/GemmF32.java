package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

import static dev.kiln.backend.cpu.GemmF32Kernel.L;
import static dev.kiln.backend.cpu.GemmF32Kernel.MAX_MR;
import static dev.kiln.backend.cpu.GemmF32Kernel.NR;
import static dev.kiln.backend.cpu.GemmF32Kernel.S;

/**
 * Blocked F32 GEMM on one block of C (the GotoBLAS / BLIS loop nest):
 * <pre>
 * for jc in N step NC:            B block  (KC x NC) packed once into NR-wide k-major panels, shared
 *   for pc in K step KC:
 *     pack B[pc:+KC, jc:+NC]      (panels shared out over the threads, see {@link GemmTeam})
 *     for ic in M step MC:        A block  (MC x KC) packed per thread into MR-row panels (L2;
 *                                 MR = 6 or 8 per call, see {@link GemmF32Kernel#tileRows});
 *       pack A[ic:+MC, pc:+KC]    ic blocks are handed out dynamically to the threads
 *       for jr in NC step NR:     B micro-panel (KC x NR, L2) reused by every A panel
 *         for ir in MC step MR:   micro-kernel: MR x NR tile (A micro-panel in L1), then store into C
 * </pre>
 * Block sizes for Zen 4 (32 KB L1d, 1 MB L2 per core, 32 MB shared L3), chosen by measurement:
 * KC = 1024, so K usually fits one block: C is written once (never read when beta == 0) and A
 * and B are packed once; this beat KC = 256 / 512 by 5-10% at n = 1024, because the C
 * read-modify-write passes cost more than the kernel loses streaming its B micro-panel
 * (1024 x 32 floats = 128 KB) from L2. MC = 96: A block 384 KB in L2, A micro-panel 24 KB in L1
 * (MC 24..384 measured within noise). NC = 1024: B block 4 MB in L3.
 * Operands are read through their strides while packing, so transposed, sliced and broadcast
 * views cost nothing extra; panels are zero-padded so edge tiles run the same kernel.
 * Beta is applied on the first K block only. Buffers are heap float[] kept per thread: the
 * micro-kernel reads packed heap arrays at ~117 GFLOP/s (in cache, one core) but only 45-80
 * GFLOP/s from off-heap segments (access checks in the loop).
 * M = 1 and N = 1 (matrix-vector) go to {@link GemmF32Gemv} when the vector side is contiguous;
 * M = 1 with a transposed B (unit row stride) is a dot product per column of C there too.
 */
final class GemmF32 {
    private GemmF32() {}

    /** Block sizes (multiples of MR / NR); see the class doc for what each one keeps in cache. */
    static final int KC = Integer.getInteger("kiln.gemm.kc", 1024);
    static final int MC = roundUp(Integer.getInteger("kiln.gemm.mc", 96), 24);   // whole tiles of 6 and of 8 rows
    static final int NC = roundUp(Integer.getInteger("kiln.gemm.nc", 1024), NR);

    /** Per-thread packing buffers; b is the shared B block when this thread leads a call. */
    private static final class Buffers {
        float[] a = new float[0], b = new float[0];
        final float[] t = new float[MAX_MR * NR];
        float[] scratch = new float[0], acc = new float[0], tiles = new float[0];
        boolean bBusy;
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /**
     * c[0:m, 0:n] = alpha * a[0:m, 0:k] * b[0:k, 0:n] + beta * c on up to {@code threads} threads
     * (over blocks of M); c must have unit column stride.
     */
    static void gemm(int m, int n, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c, int threads) {
        gemm(m, n, k, alpha, a, null, b, beta, c, threads, false, false);
    }

    /**
     * The same with A's panels packed beforehand ({@code packedA}, when not null: a constant A, e.g.
     * conv weights). A column slice of a larger product ({@code slice}) always takes the blocked
     * path, so a slice one column wide is summed as the whole product sums it (not as a dot
     * product): the result then does not depend on how the columns were split over threads.
     * {@code weightB}: B is a model's constant weight, which a matrix-vector product reads from DRAM
     * (see {@link GemmF32Gemv#rowTimesMatrix}).
     */
    static void gemm(int m, int n, int k, float alpha, GemmMatrix a, GemmF32Packed.PackedA packedA, GemmMatrix b, float beta,
                     GemmMatrix c, int threads, boolean slice, boolean weightB) {
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) {
            scale(m, n, beta, c);
            return;
        }
        boolean vector = !CpuConfig.scalar();
        if (m == 1 && b.cs() == 1) {
            Buffers buf = BUFFERS.get();
            int parts = (k + GemmF32Gemv.K_PART - 1) / GemmF32Gemv.K_PART;
            GemmF32Gemv.rowTimesMatrix(n, k, alpha, a, b, beta, c, scratch(buf, k), accumulator(buf, n * parts), threads, vector, weightB);
        } else if (m == 1 && b.rs() == 1) {         // B stored transposed: c^T = B^T a^T, a dot per column
            GemmMatrix bt = new GemmMatrix(b.seg(), b.off(), b.cs(), 1), at = new GemmMatrix(a.seg(), a.off(), a.cs(), a.rs());
            dots(n, k, alpha, bt, at, beta, new GemmMatrix(c.seg(), c.off(), c.cs(), c.rs()), threads, vector, weightB);
        } else if (n == 1 && a.cs() == 1 && !slice) {
            dots(m, k, alpha, a, b, beta, c, threads, vector, false);
        } else {
            Buffers lead = BUFFERS.get();
            boolean own = !lead.bBusy;            // false when re-entered on this thread (nested parallel work)
            int kc0 = evenBlock(k, KC, 1), nc0 = evenBlock(n, NC, NR);
            float[] bp = own ? bufferB(lead, kc0 * nc0) : new float[kc0 * nc0];
            lead.bBusy = true;
            try {
                blocked(m, n, k, kc0, nc0, alpha, a, packedA, b, beta, c, bp, threads, vector);
            } finally {
                if (own) lead.bBusy = false;
            }
        }
    }

    /** c[0:rows, 0] = alpha * a[0:rows, 0:k] * b[0:k, 0] + beta * c: blocks of rows (multiples of 4) over the threads. */
    private static void dots(int rows, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c,
                             int threads, boolean vector, boolean weight) {
        int quads = (rows + 3) / 4, blocks = Math.min(quads, 4 * threads);
        boolean fromDram = GemmF32Gemv.fromDram((long) rows * k, weight);
        CpuGemm.forBlocks(blocks, threads, blk -> GemmF32Gemv.matrixTimesColumn(4 * (int) ((long) blk * quads / blocks),
                Math.min(rows, 4 * (int) ((long) (blk + 1) * quads / blocks)), k, alpha, a, b, beta, c,
                scratch(BUFFERS.get(), k), vector, fromDram));
    }

    /**
     * The loop nest of the class doc; bp holds one packed B block (kc0 x nc0), shared by the
     * threads. With packedA (made for this m, k, tile height and kc0) A's panels are read from it.
     */
    private static void blocked(int m, int n, int k, int kc0, int nc0, float alpha, GemmMatrix a, GemmF32Packed.PackedA packedA,
                                GemmMatrix b, float beta, GemmMatrix c, float[] bp, int threads, boolean vector) {
        int mr = GemmF32Kernel.tileRows(m);
        int units = (m + mr - 1) / mr, mBlocks = CpuGemm.rowBlocks(units, MC / mr, threads);
        int mc0 = (units + mBlocks - 1) / mBlocks * mr;
        for (int jc = 0; jc < n; jc += nc0) {
            int nc = Math.min(nc0, n - jc);
            for (int pc = 0, pb = 0; pc < k; pc += kc0, pb++) {
                int kc = Math.min(kc0, k - pc), p0 = pc, pbF = pb;
                GemmMatrix bBlock = b.at(pc, jc), cBlock = c.at(0, jc);
                float betaNow = pc == 0 ? beta : 1f;
                int panels = (nc + NR - 1) / NR, perTask = Math.max(1, panels / (4 * threads));
                GemmTeam.run(threads, (panels + perTask - 1) / perTask,
                        g -> packB(bBlock, g * perTask, Math.min(panels, (g + 1) * perTask), kc, nc, bp, vector),
                        mBlocks, blk -> {
                            int ic = (int) ((long) blk * units / mBlocks) * mr;
                            int mc = Math.min(m, (int) ((long) (blk + 1) * units / mBlocks) * mr) - ic;
                            Buffers mine = BUFFERS.get();
                            float[] ap;
                            int ao = 0;
                            if (packedA != null) {
                                ap = packedA.data();
                                ao = packedA.offsets()[pbF] + ic * kc;
                            } else {
                                ap = bufferA(mine, mc0 * kc);
                                packA(a.at(ic, p0), mc, kc, mr, ap, scratch(mine, kc));
                            }
                            macro(mr, mc, nc, kc, ap, ao, bp, mine.t, cBlock.at(ic, 0), alpha, betaNow, vector);
                        });
            }
        }
    }

    /** All mr x NR tiles of one packed A block (at ap[ao]) times one packed B block. */
    private static void macro(int mr, int mc, int nc, int kc, float[] ap, int ao, float[] bp, float[] t, GemmMatrix c,
                              float alpha, float beta, boolean vector) {
        MemorySegment seg = c.seg();
        long ldc = c.rs();
        boolean nativePanel = vector && GemmF32Native.active();
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            if (nativePanel && nr > L) {
                GemmF32Native.multiply(ap, ao, mc, mr, kc, bp, jr * kc, seg, c.off() + jr, ldc, nr, alpha, beta);
                continue;
            }
            for (int ir = 0; ir < mc; ir += mr) {
                if (vector && nr <= L) GemmF32Kernel.kernelNarrow(mr, kc, ap, ao + ir * kc, bp, jr * kc, t);
                else if (vector) GemmF32Kernel.kernel(mr, kc, ap, ao + ir * kc, bp, jr * kc, t);
                else GemmF32Kernel.kernelScalar(mr, kc, ap, ao + ir * kc, bp, jr * kc, t);
                GemmF32Kernel.store(t, Math.min(mr, mc - ir), nr, seg, c.off() + ir * ldc + jr, ldc, alpha, beta, vector);
            }
        }
    }

    /** Packs a [mc, kc] into mr-row panels: panel p holds dst[p*mr*kc + r*kc + k] = a(p*mr + r, k). */
    static void packA(GemmMatrix a, int mc, int kc, int mr, float[] dst, float[] scratch) {
        packA(a, mc, kc, mr, dst, 0, scratch);
    }

    /** The same starting at dst[d0]. */
    static void packA(GemmMatrix a, int mc, int kc, int mr, float[] dst, int d0, float[] scratch) {
        if (GemmF32Native.packsTransposed(a, mc)) {
            GemmF32Native.packTransposedA(a, mc, kc, mr, dst, d0);
            return;
        }
        for (int p = 0; p < mc; p += mr) {
            int rows = Math.min(mr, mc - p);
            int base = d0 + p * kc;
            if (rows < mr) Arrays.fill(dst, base + rows * kc, base + mr * kc, 0f);
            gather(a.seg(), a.off() + p * a.rs(), a.rs(), a.cs(), rows, kc, dst, base, kc, 1, scratch);
        }
    }

    /**
     * Packs panels [p0, p1) of b [kc, nc] into NR-column panels: panel p holds
     * dst[p*NR*kc + k*NR + j] = b(k, p*NR + j), zero-padded past nc.
     */
    static void packB(GemmMatrix b, int p0, int p1, int kc, int nc, float[] dst, boolean vector) {
        float[] scratch = null;
        for (int p = p0; p < p1; p++) {
            int j0 = p * NR, cols = Math.min(NR, nc - j0);
            int base = j0 * kc;
            long src = b.off() + j0 * b.cs();
            if (vector && cols == NR && b.cs() == 1) {
                copyRows(b.seg(), src, b.rs(), kc, dst, base);
            } else if (vector && GemmF32Native.packsTransposed(b, kc)) {
                GemmF32Native.packTransposedB(b.at(0, j0), kc, cols, dst, base);
            } else {
                if (cols < NR) Arrays.fill(dst, base, base + NR * kc, 0f);
                if (scratch == null) scratch = scratch(BUFFERS.get(), kc);
                gather(b.seg(), src, b.rs(), b.cs(), kc, cols, dst, base, NR, 1, scratch);
            }
        }
    }

    /** dst[base + i*NR + j] = seg[src + i*rs + j] for i < rows, j < NR: two vector copies per row. */
    private static void copyRows(MemorySegment seg, long src, long rs, int rows, float[] dst, int base) {
        for (int i = 0; i < rows; i++) {
            long off = (src + i * rs) * Float.BYTES;
            int d = base + i * NR;
            FloatVector.fromMemorySegment(S, seg, off, ByteOrder.LITTLE_ENDIAN).intoArray(dst, d);
            FloatVector.fromMemorySegment(S, seg, off + (long) L * Float.BYTES, ByteOrder.LITTLE_ENDIAN).intoArray(dst, d + L);
        }
    }

    /**
     * dst[base + x*dx + y*dy] = seg[src + x*sx + y*sy] for x < nx, y < ny. The dim with the smaller
     * source stride runs innermost; a unit-stride inner run is bulk-copied, straight into dst when
     * dst is contiguous there too, else into scratch and scattered from the heap (a transposing
     * pack from a heap array is ~1.5x faster than element-wise segment reads).
     */
    static void gather(MemorySegment seg, long src, long sx, long sy, int nx, int ny, float[] dst, int base,
                       int dx, int dy, float[] scratch) {
        if (Math.abs(sx) < Math.abs(sy)) {
            gather(seg, src, sy, sx, ny, nx, dst, base, dy, dx, scratch);
        } else if (sy == 1 && dy == 1) {
            for (int x = 0; x < nx; x++)
                MemorySegment.copy(seg, Storage.F32, (src + x * sx) * Float.BYTES, dst, base + x * dx, ny);
        } else if (sy == 1 && ny >= 32 && scratch.length >= ny) {
            for (int x = 0; x < nx; x++) {
                MemorySegment.copy(seg, Storage.F32, (src + x * sx) * Float.BYTES, scratch, 0, ny);
                int d = base + x * dx;
                for (int y = 0; y < ny; y++) dst[d + y * dy] = scratch[y];
            }
        } else {
            for (int x = 0; x < nx; x++) {
                long s = src + x * sx;
                int d = base + x * dx;
                for (int y = 0; y < ny; y++) dst[d + y * dy] = seg.getAtIndex(Storage.F32, s + y * sy);
            }
        }
    }

    /** c = beta * c (zero-fills when beta == 0, without reading c). */
    static void scale(int m, int n, float beta, GemmMatrix c) {
        if (beta == 1) return;
        MemorySegment seg = c.seg();
        for (int i = 0; i < m; i++) {
            long row = c.off() + i * c.rs();
            for (int j = 0; j < n; j++) {
                long idx = row + j * c.cs();
                seg.setAtIndex(Storage.F32, idx, beta == 0 ? 0f : beta * seg.getAtIndex(Storage.F32, idx));
            }
        }
    }

    /** The calling thread's packing buffers: a (>= aSize floats), scratch (>= scratchSize) and the tile t. */
    record Tile(float[] a, float[] scratch, float[] t) {}

    static Tile tile(int aSize, int scratchSize) {
        Buffers buf = BUFFERS.get();
        return new Tile(bufferA(buf, aSize), scratch(buf, scratchSize), buf.t);
    }

    /** The calling thread's buffer for the tiles of rows rows (rounded up to whole tiles) x NR, for {@link GemmF32Native#multiply}. */
    static float[] tiles(int rows) {
        Buffers buf = BUFFERS.get();
        int size = (rows + MAX_MR) * NR;
        if (buf.tiles.length < size) buf.tiles = new float[size];
        return buf.tiles;
    }

    private static float[] bufferA(Buffers buf, int size) {
        if (buf.a.length < size) buf.a = new float[size];
        return buf.a;
    }

    private static float[] bufferB(Buffers buf, int size) {
        if (buf.b.length < size) buf.b = new float[size];
        return buf.b;
    }

    private static float[] accumulator(Buffers buf, int size) {
        if (buf.acc.length < size) buf.acc = new float[size];
        return buf.acc;
    }

    private static float[] scratch(Buffers buf, int size) {
        if (buf.scratch.length < size) buf.scratch = new float[size];
        return buf.scratch;
    }

    /** A block size <= max (a multiple of unit) that splits total into equal-sized blocks. */
    static int evenBlock(int total, int max, int unit) {
        int blocks = (total + max - 1) / max;
        return roundUp((total + blocks - 1) / blocks, unit);
    }

    static int roundUp(int x, int unit) {
        return (x + unit - 1) / unit * unit;
    }
}
