package dev.kiln.backend.cpu;

import dev.kiln.ops.BinaryOp;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Large contiguous F32 rows of add/sub/mul/div, exp and softmax through the native streaming kernels
 * ({@code native/cpu/elementwise.c}): the same arithmetic as the Vector API kernels, bit for bit,
 * but written with non-temporal stores, which the Vector API cannot express (see the C file for
 * why and how much). Used for rows of at least {@link #minElements} elements (8 MB of output per
 * thread's piece: below that the output may still be in cache for the next op, and there plain
 * stores win); everything else, and every CPU without AVX-512 or build without the library, takes
 * the Vector API path. The long-row sum of {@link ReduceRowF32#sum} reads its stripes here too (no
 * stores; the native loop keeps more reads in flight than the bounds-checked Vector API loads).
 * {@code -Dkiln.elem.stream=false} switches it off.
 */
final class ElemStream {
    private ElemStream() {}

    /** Row length from which streaming stores are used (tests lower it). */
    static long minElements = 1L << 21;
    private static volatile boolean enabled;
    private static final MethodHandle BINARY, EXP, SOFTMAX, SUM;

    static {
        MethodHandle bin = null, exp = null, softmax = null, sum = null;
        if (Boolean.parseBoolean(System.getProperty("kiln.elem.stream", "true")) && CpuConfig.F32.length() == 16
                && NativeCpu.cpuSupports("kiln_cpu_has_avx512f")) {
            var A = ValueLayout.ADDRESS;
            var L = ValueLayout.JAVA_LONG;
            // not critical calls: a call streams 8 MB or more (a millisecond), and a thread in a critical
            // downcall holds off every safepoint of the JVM; the operands must be off-heap (checked)
            bin = NativeCpu.function("kiln_f32_binary_stream", FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT, A, A, A, L), false);
            exp = NativeCpu.function("kiln_f32_exp_stream", FunctionDescriptor.ofVoid(A, A, L), false);
            softmax = NativeCpu.function("kiln_f32_softmax_rows_stream", FunctionDescriptor.ofVoid(A, A, L, ValueLayout.JAVA_INT), false);
            sum = NativeCpu.function("kiln_f32_sum_stripes", FunctionDescriptor.of(ValueLayout.JAVA_DOUBLE, A, L, L, L), false);
        }
        BINARY = bin;
        EXP = exp;
        SOFTMAX = softmax;
        SUM = sum;
        enabled = bin != null;
    }

    static boolean available() { return BINARY != null; }

    /** Tests switch the native path off and on; returns the previous setting. */
    static boolean setEnabled(boolean on) {
        boolean old = enabled;
        enabled = on && BINARY != null;
        return old;
    }

    private static boolean use(int n) { return enabled && n >= minElements; }

    /**
     * o[oi + i] = a[ai + i] op b[bi + i] for i below the vector loop bound of n, when this row
     * qualifies; returns how many elements were done (0 when it does not).
     */
    static int binary(BinaryOp op, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int n) {
        int code = switch (op) {
            case ADD -> 0;
            case SUB -> 1;
            case MUL -> 2;
            case DIV -> 3;
            default -> -1;
        };
        if (code < 0 || !use(n) || !a.isNative() || !b.isNative() || !o.isNative()) return 0;
        int done = CpuConfig.F32.loopBound(n);
        try {
            BINARY.invokeExact(code, a.asSlice(ai * 4), b.asSlice(bi * 4), o.asSlice(oi * 4), (long) done);
        } catch (Throwable t) {
            throw new IllegalStateException(op.name().toLowerCase() + ": native streaming kernel failed: " + t, t);
        }
        return done;
    }

    /** o[oi + i] = e^x[xi + i] like {@link #binary}. */
    static int exp(MemorySegment x, long xi, MemorySegment o, long oi, int n) {
        if (!use(n) || !x.isNative() || !o.isNative()) return 0;
        int done = CpuConfig.F32.loopBound(n);
        try {
            EXP.invokeExact(x.asSlice(xi * 4), o.asSlice(oi * 4), (long) done);
        } catch (Throwable t) {
            throw new IllegalStateException("exp: native streaming kernel failed: " + t, t);
        }
        return done;
    }

    /** Whether {@link #sumStripes} may read x (native memory, kernels on). */
    static boolean canSum(MemorySegment x) { return enabled && SUM != null && x.isNative(); }

    /**
     * The four stripe sums of {@link ReduceRowF32#sum} (four back-to-back stripes of stride floats
     * from element xi, stride a multiple of 16; runs of block floats per float accumulator), added in
     * stripe order, bit for bit what its Vector API loop computes. Only after {@link #canSum}.
     */
    static double sumStripes(MemorySegment x, long xi, int stride, int block) {
        try {
            return (double) SUM.invokeExact(x.asSlice(xi * 4, 4L * ReduceRowF32.STRIPES * stride), (long) stride, (long) stride, (long) block);
        } catch (Throwable t) {
            throw new IllegalStateException("sum: native kernel failed: " + t, t);
        }
    }

    /**
     * Softmax of rows [0, rows) of contiguous x [rows, d] into contiguous o with streaming stores,
     * bit for bit ReduceNorm's F32 row kernel; for a tensor of at least {@link #minElements}
     * elements with d a multiple of 16 up to 4096 (the C kernel's row buffer). Returns whether it ran.
     */
    static boolean softmaxRows(long total, MemorySegment x, long xi, MemorySegment o, long oi, long rows, int d) {
        if (!enabled || total < minElements || d % 16 != 0 || d > 4096 || !x.isNative() || !o.isNative()) return false;
        try {
            SOFTMAX.invokeExact(x.asSlice(xi * 4), o.asSlice(oi * 4), rows, d);
        } catch (Throwable t) {
            throw new IllegalStateException("softmax: native streaming kernel failed: " + t, t);
        }
        return true;
    }
}
