package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

import static dev.kiln.backend.cpu.GemmF32Kernel.L;
import static dev.kiln.backend.cpu.GemmF32Kernel.MR;
import static dev.kiln.backend.cpu.GemmF32Kernel.NR;
import static dev.kiln.backend.cpu.GemmF32Kernel.S;

/**
 * Single-threaded blocked F32 GEMM on one block of C (the GotoBLAS / BLIS loop nest):
 * <pre>
 * for jc in N step NC:            B block  (KC x NC) packed into NR-wide k-major panels (L3)
 *   for pc in K step KC:
 *     pack B[pc:+KC, jc:+NC]
 *     for ic in M step MC:        A block  (MC x KC) packed into MR-high k-major panels (L2)
 *       pack A[ic:+MC, pc:+KC]
 *       for jr in NC step NR:     B micro-panel (KC x NR) reused by every A panel (L1)
 *         for ir in MC step MR:   micro-kernel: MR x NR tile, then store into C
 * </pre>
 * Operands are read through their strides while packing, so transposed, sliced and broadcast
 * views cost nothing extra; panels are zero-padded so edge tiles run the same kernel.
 * Beta is applied on the first K block only, and C is not read when beta == 0 (NaN-safe).
 * Buffers are heap float[] per thread (measured as fast as aligned off-heap for the kernel).
 */
final class GemmF32 {
    private GemmF32() {}

    /** Block sizes (multiples of MR / NR); see the class doc for what each one keeps in cache. */
    static final int KC = Integer.getInteger("kiln.gemm.kc", 256);
    static final int MC = roundUp(Integer.getInteger("kiln.gemm.mc", 192), MR);
    static final int NC = roundUp(Integer.getInteger("kiln.gemm.nc", 4096), NR);

    private static final class Buffers {
        float[] a = new float[0], b = new float[0];
        final float[] t = new float[MR * NR];
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /** c[0:m, 0:n] = alpha * a[0:m, 0:k] * b[0:k, 0:n] + beta * c; c must have unit column stride. */
    static void gemm(int m, int n, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c) {
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) {
            scale(m, n, beta, c);
            return;
        }
        boolean vector = !CpuConfig.scalar();
        int kc0 = evenBlock(k, KC, 1), mc0 = evenBlock(m, MC, MR), nc0 = evenBlock(n, NC, NR);
        Buffers buf = buffers(mc0, kc0, nc0);
        for (int jc = 0; jc < n; jc += nc0) {
            int nc = Math.min(nc0, n - jc);
            for (int pc = 0; pc < k; pc += kc0) {
                int kc = Math.min(kc0, k - pc);
                packB(b.at(pc, jc), kc, nc, buf.b, vector);
                float betaNow = pc == 0 ? beta : 1f;
                for (int ic = 0; ic < m; ic += mc0) {
                    int mc = Math.min(mc0, m - ic);
                    packA(a.at(ic, pc), mc, kc, buf.a);
                    macro(mc, nc, kc, buf, c.at(ic, jc), alpha, betaNow, vector);
                }
            }
        }
    }

    /** All MR x NR tiles of one packed A block times one packed B block. */
    private static void macro(int mc, int nc, int kc, Buffers buf, GemmMatrix c, float alpha, float beta, boolean vector) {
        float[] ap = buf.a, bp = buf.b, t = buf.t;
        MemorySegment seg = c.seg();
        long ldc = c.rs();
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            for (int ir = 0; ir < mc; ir += MR) {
                if (vector) GemmF32Kernel.kernel(kc, ap, ir * kc, bp, jr * kc, t);
                else GemmF32Kernel.kernelScalar(kc, ap, ir * kc, bp, jr * kc, t);
                GemmF32Kernel.store(t, Math.min(MR, mc - ir), nr, seg, c.off() + ir * ldc + jr, ldc, alpha, beta, vector);
            }
        }
    }

    /** Packs a [mc, kc] into MR-row panels: panel p holds dst[p*MR*kc + k*MR + r] = a(p*MR + r, k). */
    static void packA(GemmMatrix a, int mc, int kc, float[] dst) {
        for (int p = 0; p < mc; p += MR) {
            int rows = Math.min(MR, mc - p);
            int base = p * kc;
            if (rows < MR) Arrays.fill(dst, base, base + MR * kc, 0f);
            gather(a.seg(), a.off() + p * a.rs(), a.cs(), a.rs(), kc, rows, dst, base, MR);
        }
    }

    /** Packs b [kc, nc] into NR-column panels: panel p holds dst[p*NR*kc + k*NR + j] = b(k, p*NR + j). */
    static void packB(GemmMatrix b, int kc, int nc, float[] dst, boolean vector) {
        for (int p = 0; p < nc; p += NR) {
            int cols = Math.min(NR, nc - p);
            int base = p * kc;
            long src = b.off() + p * b.cs();
            if (vector && cols == NR && b.cs() == 1) {
                copyRows(b.seg(), src, b.rs(), kc, dst, base);
            } else {
                if (cols < NR) Arrays.fill(dst, base, base + NR * kc, 0f);
                gather(b.seg(), src, b.rs(), b.cs(), kc, cols, dst, base, NR);
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
     * dst[base + i*ld + j] = seg[src + i*si + j*sj] for i < ni, j < nj. The loop over the smaller
     * source stride runs innermost, so row-major and transposed sources both read sequentially.
     */
    static void gather(MemorySegment seg, long src, long si, long sj, int ni, int nj, float[] dst, int base, int ld) {
        if (Math.abs(si) <= Math.abs(sj)) {
            for (int j = 0; j < nj; j++) {
                long s = src + j * sj;
                int d = base + j;
                for (int i = 0; i < ni; i++) dst[d + i * ld] = seg.getAtIndex(Storage.F32, s + i * si);
            }
        } else {
            for (int i = 0; i < ni; i++) {
                long s = src + i * si;
                int d = base + i * ld;
                for (int j = 0; j < nj; j++) dst[d + j] = seg.getAtIndex(Storage.F32, s + j * sj);
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

    private static Buffers buffers(int mc, int kc, int nc) {
        Buffers buf = BUFFERS.get();
        if (buf.a.length < mc * kc) buf.a = new float[mc * kc];
        if (buf.b.length < kc * nc) buf.b = new float[kc * nc];
        return buf;
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
