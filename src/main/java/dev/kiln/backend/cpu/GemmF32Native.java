package dev.kiln.backend.cpu;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import static dev.kiln.backend.cpu.GemmF32Kernel.NR;

/**
 * native/cpu/gemm_f32.c's panel step: a run of packed A tiles times one packed B panel, the tiles
 * bit for bit those of {@link GemmF32Kernel#kernel}, 2-6% faster than the Vector API kernel on
 * the same operands (native/cpu/gemm_f32.c says how that was measured). Used for every full
 * panel by {@link GemmF32} and {@link GemmF32Packed} (a model's constant weights). Present only with
 * 512-bit vectors (NR = 32) on AVX-512 and the library loaded; {@code -Dkiln.gemm.native=false}
 * (or {@link #use} = false, as the tests do to compare) keeps the Vector API kernel.
 */
final class GemmF32Native {
    private GemmF32Native() {}

    private static final MethodHandle PANEL = NR == 32 && NativeCpu.cpuSupports("kiln_cpu_has_avx512f")
            ? NativeCpu.function("kiln_f32_gemm_panel", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS), true)
            : null;

    /** Whether the panel step runs when present. */
    static volatile boolean use = !"false".equals(System.getProperty("kiln.gemm.native"));

    private static final MethodHandle PACK_AT = PANEL != null
            ? NativeCpu.function("kiln_f32_pack_at", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS), true)
            : null;
    private static final MethodHandle PACK_BT = PANEL != null
            ? NativeCpu.function("kiln_f32_pack_bt", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS), true)
            : null;

    /** Whether the transposed-operand packers run when present ({@code -Dkiln.gemm.nativePack=false}: the Java gather). */
    static volatile boolean usePack = !"false".equals(System.getProperty("kiln.gemm.nativePack"));

    /** Whether this JVM has the panel step (library loaded, AVX-512, 512-bit species). */
    static boolean available() { return PANEL != null; }

    /** Whether callers should take the panel step now. */
    static boolean active() { return PANEL != null && use; }

    /**
     * C[0:mc, 0:nr] = alpha * (the packed A tiles of mc rows at a[ao], mr x kc each) x (the panel at
     * b[bo], kc x NR) + beta * C, C at element cOff of c with row stride ldc: the panel step into the
     * calling thread's tile buffer, then {@link GemmF32Kernel#store} per tile.
     */
    static void multiply(float[] a, int ao, int mc, int mr, int kc, float[] b, int bo, MemorySegment c, long cOff, long ldc, int nr,
                         float alpha, float beta) {
        int ntiles = (mc + mr - 1) / mr;
        float[] t = GemmF32.tiles(mc);
        panel(a, ao, ntiles, mr, kc, b, bo, t);
        for (int i = 0, ir = 0; i < ntiles; i++, ir += mr)
            GemmF32Kernel.store(t, i * mr * NR, Math.min(mr, mc - ir), nr, c, cOff + ir * ldc, ldc, alpha, beta, true);
    }

    /**
     * Whether {@link #packTransposedA} / {@link #packTransposedB} take an operand: stored transposed
     * (unit row stride; column stride at least {@code span}, the rows packed, so no two elements
     * overlap) while the native step is active.
     */
    static boolean packsTransposed(GemmMatrix x, int span) {
        return PACK_AT != null && use && usePack && x.rs() == 1 && x.cs() >= span;
    }

    /**
     * {@link GemmF32#packA}'s panels (mr rows, row-major mr x kc, zero rows past mc) of a
     * transposed A, from dst[d0]: native/cpu/gemm_f32.c's kiln_f32_pack_at (8 x 8 in-register
     * transposes). The same floats as the Java gather, moved only.
     */
    static void packTransposedA(GemmMatrix a, int mc, int kc, int mr, float[] dst, int d0) {
        checkBlock(a, mc, kc, dst, d0, (long) ((mc + mr - 1) / mr) * mr * kc);
        try {
            PACK_AT.invokeExact(a.seg().asSlice(a.off() * Float.BYTES), a.cs(), mc, kc, mr,
                    MemorySegment.ofArray(dst).asSlice((long) d0 * Float.BYTES));
        } catch (Throwable e) {
            throw new IllegalStateException("native transposed pack failed", e);
        }
    }

    /**
     * One of {@link GemmF32#packB}'s panels (k-major kc x NR, zero columns past cols) of a
     * transposed B (a Linear layer's W^T), at dst[d0]: kiln_f32_pack_bt.
     */
    static void packTransposedB(GemmMatrix b, int kc, int cols, float[] dst, int d0) {
        checkBlock(b, kc, cols, dst, d0, (long) kc * NR);
        try {
            PACK_BT.invokeExact(b.seg().asSlice(b.off() * Float.BYTES), b.cs(), kc, cols,
                    MemorySegment.ofArray(dst).asSlice((long) d0 * Float.BYTES));
        } catch (Throwable e) {
            throw new IllegalStateException("native transposed pack failed", e);
        }
    }

    /** x's elements at off + r + c*cs for r < rows, c < cols inside x's segment, and dst[d0, d0 + size) inside dst. */
    private static void checkBlock(GemmMatrix x, int rows, int cols, float[] dst, int d0, long size) {
        long end = (x.off() + (long) (cols - 1) * x.cs() + rows) * Float.BYTES;
        if (x.off() < 0 || end > x.seg().byteSize() || d0 + size > dst.length)
            throw new IndexOutOfBoundsException("native pack: " + rows + " x " + cols + " block at " + x.off() + " outside its segment");
    }

    /**
     * t[i*mr*NR ...] = tile i of (a from ao: ntiles packed mr x kc tiles) x (the panel at b[bo], kc x NR),
     * for i < ntiles. One critical call (heap arrays in place): a panel of 12 tiles at kc = 1024 is
     * about 25 us of work.
     */
    private static void panel(float[] a, int ao, int ntiles, int mr, int kc, float[] b, int bo, float[] t) {
        try {
            PANEL.invokeExact(MemorySegment.ofArray(a).asSlice((long) ao * Float.BYTES), ntiles, mr, kc,
                    MemorySegment.ofArray(b).asSlice((long) bo * Float.BYTES), MemorySegment.ofArray(t));
        } catch (Throwable e) {
            throw new IllegalStateException("native gemm panel failed", e);
        }
    }
}
