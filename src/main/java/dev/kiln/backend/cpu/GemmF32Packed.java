package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;

import static dev.kiln.backend.cpu.GemmF32Kernel.L;
import static dev.kiln.backend.cpu.GemmF32Kernel.NR;

/**
 * F32 GEMM against a constant B (a model's weight: a read-only file mapping or storage its reader
 * sealed, see {@link Storage#isConstant}): B is packed once, into the very panels {@link GemmF32}
 * packs per call, and kept with its storage ({@link Storage#derived}: dropped when the weight is
 * released). A call then only packs A. That per-call pack of B is what small batches pay most
 * for: at M = 8 packing a 3072 x 768 weight costs about as much as the multiply itself (ONNX
 * Runtime pre-packs its weights the same way). {@link #ofA} does the same for a constant A (conv
 * weights).
 *
 * <p>Per K block (beta applies on the first), A's row blocks are packed once into the caller's
 * buffer, then tasks of (a block of up to MC rows) x (a group of NR-column panels of one NC block)
 * are claimed dynamically ({@link GemmTeam}), so even M = 8 spreads over the threads through its
 * column groups. Each output element is
 * computed by one task with the same K order as {@link GemmF32}, so the result equals the
 * per-call path's bit for bit and does not depend on the thread count.
 */
final class GemmF32Packed {
    private GemmF32Packed() {}

    /** B [k, n] packed in (NC block, KC block) order; block (jc, pc) starts at offsets[jc][pc]. */
    record PackedB(int k, int n, int kc0, int nc0, float[] data, int[][] offsets) {}

    private record Key(long off, long rs, long cs, int k, int n, int kc0, int nc0) {}

    /**
     * A [m, k] packed once into the mr-row panels {@link GemmF32#packA} makes per call (a constant
     * A: conv weights as [out channels, C kh kw]); the panels of K block pb start at offsets[pb],
     * row r's panel at offsets[pb] + r * kc (r a multiple of mr).
     */
    record PackedA(int m, int k, int mr, int kc0, float[] data, int[] offsets) {}

    private record KeyA(long off, long rs, long cs, int m, int k, int mr, int kc0) {}

    /** The packed form of a [m, k] (a view of constant storage) for the blocked GEMM, made on first use. */
    static PackedA ofA(Storage storage, GemmMatrix a, int m, int k) {
        int mr = GemmF32Kernel.tileRows(m), kc0 = GemmF32.evenBlock(k, GemmF32.KC, 1);
        return storage.derived(new KeyA(a.off(), a.rs(), a.cs(), m, k, mr, kc0), key -> {
            int rows = GemmF32.roundUp(m, mr), blocks = (k + kc0 - 1) / kc0;
            int[] offsets = new int[blocks];
            float[] data = new float[Math.toIntExact((long) rows * k)];
            float[] scratch = new float[kc0];
            for (int pb = 0, off = 0; pb < blocks; pb++) {
                int kc = Math.min(kc0, k - pb * kc0);
                offsets[pb] = off;
                float[] block = new float[rows * kc];
                GemmF32.packA(a.at(0, pb * kc0), m, kc, mr, block, scratch);
                System.arraycopy(block, 0, data, off, block.length);
                off += block.length;
            }
            return new PackedA(m, k, mr, kc0, data, offsets);
        });
    }

    /** The packed form of b [k, n] (a view of read-only storage), made on first use. */
    static PackedB of(Storage storage, GemmMatrix b, int k, int n) {
        int kc0 = GemmF32.evenBlock(k, GemmF32.KC, 1), nc0 = GemmF32.evenBlock(n, GemmF32.NC, NR);
        return storage.derived(new Key(b.off(), b.rs(), b.cs(), k, n, kc0, nc0), key -> pack(b, k, n, kc0, nc0));
    }

    private static PackedB pack(GemmMatrix b, int k, int n, int kc0, int nc0) {
        int jcBlocks = (n + nc0 - 1) / nc0, pcBlocks = (k + kc0 - 1) / kc0;
        int[][] offsets = new int[jcBlocks][pcBlocks];
        long total = 0;
        for (int jb = 0; jb < jcBlocks; jb++) {
            int nc = Math.min(nc0, n - jb * nc0), width = GemmF32.roundUp(nc, NR);
            for (int pb = 0; pb < pcBlocks; pb++) {
                offsets[jb][pb] = Math.toIntExact(total);
                total += (long) width * Math.min(kc0, k - pb * kc0);
            }
        }
        float[] data = new float[Math.toIntExact(total)];
        boolean vector = !CpuConfig.scalar();
        Parallel.forRange(jcBlocks * pcBlocks, (long) kc0 * nc0, (s, e) -> {
            for (int t = s; t < e; t++) {
                int jb = t / pcBlocks, pb = t % pcBlocks, nc = Math.min(nc0, n - jb * nc0), kc = Math.min(kc0, k - pb * kc0);
                float[] block = new float[GemmF32.roundUp(nc, NR) * kc];
                GemmF32.packB(b.at(pb * kc0, jb * nc0), 0, (nc + NR - 1) / NR, kc, nc, block, vector);
                System.arraycopy(block, 0, data, offsets[jb][pb], block.length);
            }
        });
        return new PackedB(k, n, kc0, nc0, data, offsets);
    }

    /** c[0:m, 0:n] = alpha * a[0:m, 0:k] * B + beta * c on up to threads threads; c has unit column stride. */
    static void gemm(int m, float alpha, GemmMatrix a, PackedB b, float beta, GemmMatrix c, int threads) {
        gemm(m, alpha, a, b, beta, c, threads, null);
    }

    /**
     * The same, then the epilogue (null: none) on each task's block of c once its last K block is
     * stored, by the thread that computed it, while the block is in that core's cache.
     */
    static void gemm(int m, float alpha, GemmMatrix a, PackedB b, float beta, GemmMatrix c, int threads, CpuEpilogue ep) {
        int k = b.k(), n = b.n(), kc0 = b.kc0(), nc0 = b.nc0();
        boolean vector = !CpuConfig.scalar();
        int mr = GemmF32Kernel.tileRows(m);
        int units = (m + mr - 1) / mr, mBlocks = Math.max(1, (units + GemmF32.MC / mr - 1) / (GemmF32.MC / mr));
        int jcBlocks = (n + nc0 - 1) / nc0, panelsPerBlock = (nc0 + NR - 1) / NR;
        // column groups: enough tasks for the threads (4 per thread) even when M is one block, and a
        // multiple of the thread count where the panels allow (9 tasks on 2 threads left one idle a ninth of the time)
        int g0 = Math.max(1, Math.min(panelsPerBlock, (4 * threads + mBlocks * jcBlocks - 1) / (mBlocks * jcBlocks)));
        while (threads > 1 && g0 < panelsPerBlock && (long) mBlocks * jcBlocks * g0 % threads != 0) g0++;
        int groups = g0;
        int tasksPerPc = mBlocks * jcBlocks * groups;
        // all of A's panels for one K block, packed once into the caller's A buffer (row blocks
        // packed in parallel), then read by every column group: packing A per task repeated it
        // once per group (9 times for 64 x 768 x 3072)
        float[] ap = GemmF32.tile(GemmF32.roundUp(m, mr) * kc0, kc0).a();
        for (int pc = 0, pb = 0; pc < k; pc += kc0, pb++) {
            int kc = Math.min(kc0, k - pc), p0 = pc, pbF = pb;
            float betaNow = pc == 0 ? beta : 1f;
            CpuEpilogue epNow = pc + kc == k ? ep : null;
            GemmTeam.run(threads, mBlocks, mb -> {
                int ic = (int) ((long) mb * units / mBlocks) * mr;
                int mc = Math.min(m, (int) ((long) (mb + 1) * units / mBlocks) * mr) - ic;
                if (mc > 0) GemmF32.packA(a.at(ic, p0), mc, kc, mr, ap, ic * kc, GemmF32.tile(0, kc).scratch());
            }, tasksPerPc, t -> {
                int mb = t / (jcBlocks * groups), rest = t % (jcBlocks * groups), jb = rest / groups, g = rest % groups;
                int ic = (int) ((long) mb * units / mBlocks) * mr;
                int mc = Math.min(m, (int) ((long) (mb + 1) * units / mBlocks) * mr) - ic;
                int nc = Math.min(nc0, n - jb * nc0), panels = (nc + NR - 1) / NR;
                int q0 = (int) ((long) g * panels / groups), q1 = (int) ((long) (g + 1) * panels / groups);
                if (q0 >= q1 || mc <= 0) return;
                float[] tt = GemmF32.tile(0, 0).t();
                int ao = ic * kc, bo = b.offsets()[jb][pbF];
                GemmMatrix cb = c.at(ic, jb * nc0);
                boolean nativePanel = vector && GemmF32Native.active();
                for (int q = q0; q < q1; q++) {
                    int jr = q * NR, nr = Math.min(NR, nc - jr);
                    if (nativePanel && nr > L) {
                        GemmF32Native.multiply(ap, ao, mc, mr, kc, b.data(), bo + jr * kc, cb.seg(), cb.off() + jr, cb.rs(), nr, alpha, betaNow);
                        continue;
                    }
                    for (int ir = 0; ir < mc; ir += mr) {
                        if (vector && nr <= L) GemmF32Kernel.kernelNarrow(mr, kc, ap, ao + ir * kc, b.data(), bo + jr * kc, tt);
                        else if (vector) GemmF32Kernel.kernel(mr, kc, ap, ao + ir * kc, b.data(), bo + jr * kc, tt);
                        else GemmF32Kernel.kernelScalar(mr, kc, ap, ao + ir * kc, b.data(), bo + jr * kc, tt);
                        GemmF32Kernel.store(tt, Math.min(mr, mc - ir), nr, cb.seg(), cb.off() + ir * cb.rs() + jr, cb.rs(),
                                alpha, betaNow, vector);
                    }
                }
                if (epNow != null) {
                    int j0 = q0 * NR;
                    epNow.rows(cb.seg(), cb.off() + j0, cb.rs(), mc, ic, jb * nc0 + j0, Math.min(q1 * NR, nc) - j0);
                }
            });
        }
    }
}
