package dev.kiln.backend.cpu;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Native elementwise kernels that replace multi-pass or per-row Vector API loops, bit for bit:
 * native/cpu/gelu.c's exact (erf) GELU and tanh GELU in one pass in registers (the Vector API forms
 * run as three and two passes over scratch buffers: C2's inlining limit, see that file's comment),
 * and elementwise.c's softmax rows with plain stores (one call for many short rows). Present with
 * 512-bit vectors on AVX-512 and the library loaded; {@code -Dkiln.elem.native=false} (or
 * {@link #setEnabled}, as the tests do) keeps the Vector API.
 */
final class ElemNative {
    private ElemNative() {}

    private static final boolean PRESENT = Boolean.parseBoolean(System.getProperty("kiln.elem.native", "true"))
            && CpuConfig.F32.length() == 16 && NativeCpu.cpuSupports("kiln_cpu_has_avx512f");
    private static final MethodHandle GELU = row("kiln_f32_gelu"), GELU_TANH = row("kiln_f32_gelu_tanh");
    private static final MethodHandle SOFTMAX = PRESENT ? NativeCpu.function("kiln_f32_softmax_rows", FunctionDescriptor.ofVoid(
            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT), false) : null;
    private static volatile boolean enabled = GELU != null;

    /** Whether this JVM has the kernels. */
    static boolean available() { return GELU != null; }

    /** Tests switch the native path off and on; returns the previous setting. */
    static boolean setEnabled(boolean on) {
        boolean old = enabled;
        enabled = on && GELU != null;
        return old;
    }

    /**
     * void name(const float *x, float *o, long n). Not critical: a row may be millions of elements,
     * and a critical downcall holds off every safepoint; the operands must then be off-heap (checked
     * per call).
     */
    private static MethodHandle row(String name) {
        return PRESENT ? NativeCpu.function(name, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG), false)
                : null;
    }

    /**
     * Softmax of rows [0, rows) of x [rows, d] into o (contiguous rows from element xi / oi, off-heap)
     * with plain stores: native/cpu/elementwise.c's kiln_f32_softmax_rows, bit for bit ReduceNorm's
     * F32 row kernel (one call for all rows instead of three Java loops per row). d a multiple of 16
     * up to 4096; returns whether it ran.
     */
    static boolean softmaxRows(MemorySegment x, long xi, MemorySegment o, long oi, long rows, int d) {
        if (!enabled || SOFTMAX == null || rows == 0 || d % 16 != 0 || d > 4096 || !x.isNative() || !o.isNative()) return false;
        try {
            SOFTMAX.invokeExact(x.asSlice(xi * 4, rows * d * 4L), o.asSlice(oi * 4, rows * d * 4L), rows, d);
        } catch (Throwable e) {
            throw new IllegalStateException("native softmax failed", e);
        }
        return true;
    }

    /** The tanh GELU, as {@link #gelu}. */
    static int geluTanh(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        return call(GELU_TANH, x, xi, o, oi, n);
    }

    /**
     * o[oi + i] = gelu(x[xi + i]) for i below n rounded down to whole vectors, when the kernel is on and
     * both rows are off-heap; returns how many elements were done (0 when it did nothing).
     */
    static int gelu(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        return call(GELU, x, xi, o, oi, n);
    }

    private static int call(MethodHandle f, MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        int full = n & ~15;
        if (!enabled || full == 0 || !x.isNative() || !o.isNative()) return 0;
        try {
            f.invokeExact(x.asSlice(xi * 4, full * 4L), o.asSlice(oi * 4, full * 4L), (long) full);
        } catch (Throwable e) {
            throw new IllegalStateException("native activation failed", e);
        }
        return full;
    }
}
