package dev.kiln.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Row walker for elementwise kernels: like {@link Rows#forEach} (size-1 dims dropped, contiguous
 * neighbours merged), but over a sub-range [start, end) of the row-major element order, so a large
 * tensor can be split over threads ({@link #run}). Each chunk gets its thread's {@link Scratch}
 * buffers: gathered strided rows (so they too take the vector path) and multi-pass temporaries.
 */
final class ElemRows {
    private ElemRows() {}

    /** Elements per gather buffer (strided rows are processed in pieces of this size). */
    static final int BUF = 1024;
    /** Below this many elements a kernel runs on the calling thread. */
    static final long PAR_MIN = 1 << 16;
    private static final int BLOCK = 4096;

    /**
     * Per-thread scratch memory: four buffers of BUF 8-byte elements, off-heap like tensor storage
     * (kernels that see both heap and native segments get a polluted type profile and lose the
     * vector intrinsics). Freed with the thread's Scratch by the GC.
     */
    static final class Scratch {
        private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);
        private final MemorySegment[] bufs = new MemorySegment[4];
        private MemorySegment all;

        static Scratch get() { return LOCAL.get(); }

        MemorySegment buf(int i) {
            MemorySegment b = bufs[i];
            if (b == null) {
                if (all == null) all = Arena.ofAuto().allocate(4L * BUF * 8, 64);
                bufs[i] = b = all.asSlice(i * BUF * 8L, BUF * 8L);
            }
            return b;
        }
    }

    /** Called per row: offs[k] is operand k's element offset of the row's first element. */
    interface Body { void row(long[] offs, int n, long[] inner, Scratch s); }

    /**
     * Runs body over all rows of the iteration, split over threads when the tensor is large.
     * costPerElement scales the work estimate (1 for an add, ~10 for a transcendental). Chunks
     * start at whole rows, or (rows longer than 4096) at multiples of 4096 into a row, so every
     * element falls in the vector body or the scalar tail exactly as it does on one thread, and
     * results do not depend on the thread count.
     */
    static void run(int[] shape, long[][] strides, long[] offsets, int costPerElement, Body body) {
        long total = 1;
        for (int d : shape) total *= d;
        if (total == 0) return;
        if (total < PAR_MIN || CpuConfig.threads() == 1) {
            forRange(shape, strides, offsets, 0, total, Scratch.get(), body);
            return;
        }
        final long tot = total;
        int[] s = new int[shape.length];
        int r = Rows.merge(shape, strides, s, new long[strides.length][shape.length]);
        long n = r == 0 ? 1 : s[r - 1], rows = total / n;
        long perRow = n >= BLOCK ? (n + BLOCK - 1) / BLOCK : 1;          // units per row
        long rowsPerUnit = n >= BLOCK ? 1 : Math.max(1, BLOCK / n);
        long units = n >= BLOCK ? rows * perRow : (rows + rowsPerUnit - 1) / rowsPerUnit;
        Parallel.forRange((int) units, Math.min(n, BLOCK) * rowsPerUnit * costPerElement, (u0, u1) -> {
            long start = unitStart(u0, n, perRow, rowsPerUnit);
            long end = Math.min(tot, unitStart(u1 - 1, n, perRow, rowsPerUnit) + Math.min(n, BLOCK) * rowsPerUnit);
            if (n >= BLOCK) end = Math.min(end, ((u1 - 1) / perRow + 1) * n); // a row's last piece ends with the row
            forRange(shape, strides, offsets, start, end, Scratch.get(), body);
        });
    }

    private static long unitStart(long u, long n, long perRow, long rowsPerUnit) {
        return n >= BLOCK ? (u / perRow) * n + (u % perRow) * BLOCK : u * rowsPerUnit * n;
    }

    /** Walks the rows covering row-major elements [start, end). */
    static void forRange(int[] shape, long[][] strides, long[] offsets, long start, long end, Scratch scratch, Body body) {
        int ops = strides.length;
        int[] s = new int[Math.max(shape.length, 1)];
        long[][] st = new long[ops][s.length];
        int r = Rows.merge(shape, strides, s, st);
        long[] inner = new long[ops];
        long[] cur = offsets.clone();
        if (r == 0) { // a single element
            java.util.Arrays.fill(inner, 1);
            if (start < end) body.row(cur, 1, inner, scratch);
            return;
        }
        for (int k = 0; k < ops; k++) inner[k] = st[k][r - 1];
        int[] idx = new int[r];
        long rem = start;
        for (int d = r - 1; d >= 0; d--) {
            idx[d] = (int) (rem % s[d]);
            rem /= s[d];
            for (int k = 0; k < ops; k++) cur[k] += idx[d] * st[k][d];
        }
        long pos = start;
        int n = s[r - 1];
        while (pos < end) {
            int i0 = idx[r - 1];
            int len = (int) Math.min(n - i0, end - pos);
            body.row(cur, len, inner, scratch); // body must not keep or modify cur
            pos += len;
            if (pos >= end) return;
            for (int k = 0; k < ops; k++) cur[k] -= i0 * inner[k];
            idx[r - 1] = 0;
            int d = r - 2;
            while (d >= 0) { // carry into the outer dims
                idx[d]++;
                for (int k = 0; k < ops; k++) cur[k] += st[k][d];
                if (idx[d] < s[d]) break;
                for (int k = 0; k < ops; k++) cur[k] -= st[k][d] * s[d];
                idx[d] = 0;
                d--;
            }
        }
    }
}
