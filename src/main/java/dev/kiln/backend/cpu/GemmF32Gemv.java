package dev.kiln.backend.cpu;

import dev.kiln.tensor.Storage;
import jdk.incubator.vector.FloatVector;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;

import static dev.kiln.backend.cpu.GemmF32Kernel.L;
import static dev.kiln.backend.cpu.GemmF32Kernel.S;

/**
 * Matrix-vector shapes of F32 GEMM, which the packed path would waste (M = 1 fills one row of a
 * 6-row tile and packs all of B for a single use). Both are bound by the bandwidth of reading the
 * matrix once, so both stream it at memory speed on all threads:
 * <ul>
 *   <li>{@link #rowTimesMatrix}: M = 1 with B row-major ([K, N], unit column stride: an ONNX
 *       MatMul weight, the decode step of a GPT). The work is cut into tasks of
 *       {@value #CHUNK} columns x {@value #K_PART} rows of B; a task streams its rows of B (eight
 *       at a time) into {@value #CHUNK} partial sums that stay in L1, and the partials of the
 *       K parts are added in part order at the end. The cut depends only on the shape, so the
 *       result does not depend on the thread count, and the scalar twin adds in the same order:
 *       the two agree bitwise. Where libkiln_cpu.so is loaded and the CPU has AVX-512 the rows
 *       stream through native/cpu/gemv.c, the same arithmetic without MemorySegment bounds checks
 *       (bitwise equal again).</li>
 *   <li>{@link #matrixTimesColumn}: N = 1 with A row-major, or M = 1 with B stored transposed
 *       (a PyTorch Linear weight [N, K]): a dot product per row, four rows per pass sharing the
 *       loads of the vector, lanes summed in a fixed order (never {@code reduceLanes}, whose order
 *       changes when C2 compiles the loop). With the native library the quads run in
 *       native/cpu/gemv.c with software prefetch of the four row streams (bitwise equal; Zen 4,
 *       a 5632 x 2048 weight from DRAM on 2 threads: 26-27 GB/s in Java).</li>
 * </ul>
 */
final class GemmF32Gemv {
    private GemmF32Gemv() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /**
     * Columns of C per task when B comes from the caches: the partial sums (4 KB) stay in L1 while
     * rows of B stream past (Zen 4, one core, 1 x 768 x 3072: 36 GFLOP/s against 25 with 4096).
     */
    static final int CHUNK = 1024;
    /**
     * Columns per task when B is larger than half the L3 (it streams from DRAM): each row of B is
     * then read in 16 KB runs, long enough for the hardware prefetcher (Zen 4, one core, 768 x 50257:
     * 21 GB/s against 18 with 1024 columns). The cut over columns does not change any sum.
     */
    static final int CHUNK_DRAM = 4096;
    private static final long L3 = CpuProfile.get().l3() > 0 ? CpuProfile.get().l3() : 32L << 20;
    /**
     * Whether a model's constant weight in a matrix-vector product is taken to stream from DRAM
     * (runs of {@link #CHUNK_DRAM} columns) whatever its size: in a decode step every weight is read
     * once, and the model's weights together exceed the caches even when one matrix would fit.
     * Property {@code kiln.gemv.weightsFromDram} (default true).
     */
    static volatile boolean weightsFromDram = !"false".equals(System.getProperty("kiln.gemv.weightsFromDram"));
    /** Whether a matrix of the given floats streams from DRAM in a matrix-vector product: a model's weight, or more than half the L3. */
    static boolean fromDram(long floats, boolean weight) { return weight && weightsFromDram || 4L * floats > L3 / 2; }

    /** Rows of B per task: K is cut into parts of at most this many rows, added at the end. */
    static final int K_PART = 512;

    /** native/cpu/gemv.c's row streamer (bitwise equal to {@link #streamRows}'s vector path), or null. */
    private static final MethodHandle NATIVE_ROWS = CpuConfig.F32.length() == 16 && NativeCpu.cpuSupports("kiln_cpu_has_avx512f")
            ? NativeCpu.function("kiln_f32_gemv_rows", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), true)
            : null;
    /** native/cpu/gemv.c's four-row dot products (bitwise equal to {@link #dot4}), or null. */
    private static final MethodHandle NATIVE_DOTS = NATIVE_ROWS != null
            ? NativeCpu.function("kiln_f32_gemv_dots", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), true)
            : null;
    /** Rows per native dot call (a critical call: no safepoint while it runs, so each is kept short). */
    private static final int DOT_ROWS = 256;
    /** Tests switch the native streamer off to compare. */
    static volatile boolean useNative = NATIVE_ROWS != null;

    /**
     * c[0, 0:n] = alpha * a[0, 0:k] * b[0:k, 0:n] + beta * c[0, 0:n]; b.cs() == 1. x (>= k) and
     * partial (>= n * ceil(k / K_PART)) are the caller's scratch. weightB: B is a model's constant
     * weight, taken to stream from DRAM when {@link #weightsFromDram} (else B is judged by its size
     * against the L3). The column cut changes no sum.
     */
    static void rowTimesMatrix(int n, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c,
                               float[] x, float[] partial, int threads, boolean vector, boolean weightB) {
        boolean fromDram = fromDram((long) k * n, weightB);
        MemorySegment as = a.seg(), bs = b.seg();
        for (int p = 0; p < k; p++) x[p] = as.getAtIndex(Storage.F32, a.off() + p * a.cs());
        int width = GemmF32.evenBlock(n, fromDram ? CHUNK_DRAM : CHUNK, L), chunks = (n + width - 1) / width;
        int parts = (k + K_PART - 1) / K_PART, rows = (k + parts - 1) / parts;
        CpuGemm.forBlocks(chunks * parts, threads, t -> {
            int j0 = (t % chunks) * width, w = Math.min(width, n - j0);
            int part = t / chunks, p0 = part * rows, p1 = Math.min(k, p0 + rows);
            streamRows(bs, b.off() + j0, b.rs(), x, p0, p1, partial, part * n + j0, w, vector, fromDram);
        });
        finish(n, parts, alpha, beta, c, partial, vector);
    }

    /**
     * c[0, j] = alpha * (partial[j] + partial[n + j] + ...) (+ beta * c[0, j], one fma) for j < n:
     * the K parts added in part order, the same roundings lane by lane as the scalar loop
     * (vectors where C's row is contiguous: a scalar loop over a 3072-wide row cost ~10% of a
     * 1 x 768 x 3072 product on two threads).
     */
    private static void finish(int n, int parts, float alpha, float beta, GemmMatrix c, float[] partial, boolean vector) {
        int j = 0;
        if (vector && c.cs() == 1) {
            MemorySegment seg = c.seg();
            for (; j + L <= n; j += L) {
                FloatVector s = FloatVector.fromArray(S, partial, j);
                for (int part = 1; part < parts; part++) s = s.add(FloatVector.fromArray(S, partial, part * n + j));
                FloatVector v = s.mul(alpha);
                long at = (c.off() + j) * Float.BYTES;
                if (beta != 0) v = FloatVector.broadcast(S, beta).fma(FloatVector.fromMemorySegment(S, seg, at, LE), v);
                v.intoMemorySegment(seg, at, LE);
            }
        }
        for (; j < n; j++) {
            float s = partial[j];
            for (int part = 1; part < parts; part++) s += partial[part * n + j];
            storeScalar(c, c.off() + j * c.cs(), alpha * s, beta);
        }
    }

    /**
     * acc[ao + j] = sum over p in [p0, p1) of x[p] * seg[col + p*rs + j] for j < w, as one fma per
     * term in p order (vector and scalar paths alike).
     */
    private static void streamRows(MemorySegment seg, long col, long rs, float[] x, int p0, int p1,
                                   float[] acc, int ao, int w, boolean vector, boolean fromDram) {
        if (vector && useNative && p1 > p0) {
            try {
                NATIVE_ROWS.invokeExact(seg.asSlice((col + p0 * rs) * Float.BYTES), rs, MemorySegment.ofArray(x).asSlice(p0 * 4L),
                        p1 - p0, MemorySegment.ofArray(acc).asSlice(ao * 4L), w, fromDram ? 1 : 0);
            } catch (Throwable t) {
                throw new IllegalStateException("gemm: native GEMV kernel failed: " + t, t);
            }
            return;
        }
        java.util.Arrays.fill(acc, ao, ao + w, 0f);
        int p = p0;
        if (vector) {
            for (; p + 8 <= p1; p += 8) accumulate8(seg, col + p * rs, rs, x, p, acc, ao, w);
            for (; p + 4 <= p1; p += 4) accumulate4(seg, col + p * rs, rs, x[p], x[p + 1], x[p + 2], x[p + 3], acc, ao, w);
        }
        for (; p < p1; p++) {
            long row = col + p * rs;
            float xp = x[p];
            for (int j = 0; j < w; j++) acc[ao + j] = Math.fma(xp, seg.getAtIndex(Storage.F32, row + j), acc[ao + j]);
        }
    }

    /**
     * Eight rows of B (x[p..p+7]) into acc, as eight fmas per element in row order: measured on Zen 4
     * (4096 x 4096 from DRAM, one core) 25 GB/s against 19.5 with four rows per pass, and 88 against
     * 80 GB/s from L3; the accumulator's load and store are paid once per eight rows.
     */
    private static void accumulate8(MemorySegment seg, long row, long rs, float[] x, int p, float[] acc, int ao, int w) {
        FloatVector v0 = FloatVector.broadcast(S, x[p]), v1 = FloatVector.broadcast(S, x[p + 1]);
        FloatVector v2 = FloatVector.broadcast(S, x[p + 2]), v3 = FloatVector.broadcast(S, x[p + 3]);
        FloatVector v4 = FloatVector.broadcast(S, x[p + 4]), v5 = FloatVector.broadcast(S, x[p + 5]);
        FloatVector v6 = FloatVector.broadcast(S, x[p + 6]), v7 = FloatVector.broadcast(S, x[p + 7]);
        long b0 = row * Float.BYTES, r4 = rs * Float.BYTES;
        int j = 0;
        for (; j + L <= w; j += L) {
            long o = b0 + (long) j * Float.BYTES;
            FloatVector s = FloatVector.fromArray(S, acc, ao + j);
            s = v0.fma(FloatVector.fromMemorySegment(S, seg, o, LE), s);
            s = v1.fma(FloatVector.fromMemorySegment(S, seg, o + r4, LE), s);
            s = v2.fma(FloatVector.fromMemorySegment(S, seg, o + 2 * r4, LE), s);
            s = v3.fma(FloatVector.fromMemorySegment(S, seg, o + 3 * r4, LE), s);
            s = v4.fma(FloatVector.fromMemorySegment(S, seg, o + 4 * r4, LE), s);
            s = v5.fma(FloatVector.fromMemorySegment(S, seg, o + 5 * r4, LE), s);
            s = v6.fma(FloatVector.fromMemorySegment(S, seg, o + 6 * r4, LE), s);
            s = v7.fma(FloatVector.fromMemorySegment(S, seg, o + 7 * r4, LE), s);
            s.intoArray(acc, ao + j);
        }
        for (; j < w; j++) {
            float s = acc[ao + j];
            for (int r = 0; r < 8; r++) s = Math.fma(x[p + r], seg.getAtIndex(Storage.F32, row + r * rs + j), s);
            acc[ao + j] = s;
        }
    }

    /** acc[ao:ao+w] = fma(x3, r3, fma(x2, r2, fma(x1, r1, fma(x0, r0, acc)))) for rows r0..r3 at row, row+rs, ... */
    private static void accumulate4(MemorySegment seg, long row, long rs, float x0, float x1, float x2, float x3,
                                    float[] acc, int ao, int w) {
        FloatVector v0 = FloatVector.broadcast(S, x0), v1 = FloatVector.broadcast(S, x1);
        FloatVector v2 = FloatVector.broadcast(S, x2), v3 = FloatVector.broadcast(S, x3);
        long b0 = row * Float.BYTES, b1 = (row + rs) * Float.BYTES, b2 = (row + 2 * rs) * Float.BYTES, b3 = (row + 3 * rs) * Float.BYTES;
        int j = 0;
        for (; j + L <= w; j += L) {
            long o = (long) j * Float.BYTES;
            FloatVector s = FloatVector.fromArray(S, acc, ao + j);
            s = v0.fma(FloatVector.fromMemorySegment(S, seg, b0 + o, LE), s);
            s = v1.fma(FloatVector.fromMemorySegment(S, seg, b1 + o, LE), s);
            s = v2.fma(FloatVector.fromMemorySegment(S, seg, b2 + o, LE), s);
            s = v3.fma(FloatVector.fromMemorySegment(S, seg, b3 + o, LE), s);
            s.intoArray(acc, ao + j);
        }
        for (; j < w; j++) {
            float s = acc[ao + j];
            s = Math.fma(x0, seg.getAtIndex(Storage.F32, row + j), s);
            s = Math.fma(x1, seg.getAtIndex(Storage.F32, row + rs + j), s);
            s = Math.fma(x2, seg.getAtIndex(Storage.F32, row + 2 * rs + j), s);
            s = Math.fma(x3, seg.getAtIndex(Storage.F32, row + 3 * rs + j), s);
            acc[ao + j] = s;
        }
    }

    /**
     * c[0:m, 0] = alpha * a[0:m, 0:k] * b[0:k, 0] + beta * c[0:m, 0]; a.cs() == 1; rows [i0, i1).
     * fromDram: A streams from memory (the native kernel then prefetches the next rows into L2).
     */
    static void matrixTimesColumn(int i0, int i1, int k, float alpha, GemmMatrix a, GemmMatrix b, float beta, GemmMatrix c,
                                  float[] x, boolean vector, boolean fromDram) {
        for (int p = 0; p < k; p++) x[p] = b.seg().getAtIndex(Storage.F32, b.off() + p * b.rs());
        MemorySegment seg = a.seg();
        int i = i0;
        if (vector && useNative && NATIVE_DOTS != null && i1 - i0 >= 4) {
            float[] dots = new float[Math.min(DOT_ROWS, (i1 - i0) & ~3)];
            MemorySegment xs = MemorySegment.ofArray(x), ds = MemorySegment.ofArray(dots);
            while (i + 4 <= i1) {
                int rows = Math.min(dots.length, (i1 - i) & ~3);
                try {
                    NATIVE_DOTS.invokeExact(seg.asSlice((a.off() + i * a.rs()) * Float.BYTES), a.rs(), xs, k, rows, ds, fromDram ? 1 : 0);
                } catch (Throwable t) {
                    throw new IllegalStateException("gemm: native GEMV kernel failed: " + t, t);
                }
                for (int r = 0; r < rows; r++) storeScalar(c, c.off() + (i + r) * c.rs(), alpha * dots[r], beta);
                i += rows;
            }
        }
        if (vector) {
            float[] dots = new float[4];
            for (; i + 4 <= i1; i += 4) {
                dot4(seg, a.off() + i * a.rs(), a.rs(), x, k, dots);
                for (int r = 0; r < 4; r++) storeScalar(c, c.off() + (i + r) * c.rs(), alpha * dots[r], beta);
            }
        }
        for (; i < i1; i++) {
            long row = a.off() + i * a.rs();
            float dot = 0f;
            for (int p = 0; p < k; p++) dot = Math.fma(seg.getAtIndex(Storage.F32, row + p), x[p], dot);
            storeScalar(c, c.off() + i * c.rs(), alpha * dot, beta);
        }
    }

    /** dots[r] = row (row0 + r*rs) . x over k, for r < 4: two accumulators per row, lanes summed in lane order. */
    private static void dot4(MemorySegment seg, long row0, long rs, float[] x, int k, float[] dots) {
        FloatVector s00 = FloatVector.zero(S), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
        long r0 = row0 * Float.BYTES, r1 = (row0 + rs) * Float.BYTES, r2 = (row0 + 2 * rs) * Float.BYTES, r3 = (row0 + 3 * rs) * Float.BYTES;
        int p = 0;
        for (; p + 2 * L <= k; p += 2 * L) {
            long o = (long) p * Float.BYTES, o2 = o + (long) L * Float.BYTES;
            FloatVector x0 = FloatVector.fromArray(S, x, p), x1 = FloatVector.fromArray(S, x, p + L);
            s00 = FloatVector.fromMemorySegment(S, seg, r0 + o, LE).fma(x0, s00);
            s01 = FloatVector.fromMemorySegment(S, seg, r0 + o2, LE).fma(x1, s01);
            s10 = FloatVector.fromMemorySegment(S, seg, r1 + o, LE).fma(x0, s10);
            s11 = FloatVector.fromMemorySegment(S, seg, r1 + o2, LE).fma(x1, s11);
            s20 = FloatVector.fromMemorySegment(S, seg, r2 + o, LE).fma(x0, s20);
            s21 = FloatVector.fromMemorySegment(S, seg, r2 + o2, LE).fma(x1, s21);
            s30 = FloatVector.fromMemorySegment(S, seg, r3 + o, LE).fma(x0, s30);
            s31 = FloatVector.fromMemorySegment(S, seg, r3 + o2, LE).fma(x1, s31);
        }
        dots[0] = tail(seg, row0, x, p, k, (float) Lanes.sum(s00.add(s01)));
        dots[1] = tail(seg, row0 + rs, x, p, k, (float) Lanes.sum(s10.add(s11)));
        dots[2] = tail(seg, row0 + 2 * rs, x, p, k, (float) Lanes.sum(s20.add(s21)));
        dots[3] = tail(seg, row0 + 3 * rs, x, p, k, (float) Lanes.sum(s30.add(s31)));
    }

    private static float tail(MemorySegment seg, long row, float[] x, int p, int k, float dot) {
        for (; p < k; p++) dot = Math.fma(seg.getAtIndex(Storage.F32, row + p), x[p], dot);
        return dot;
    }

    private static void storeScalar(GemmMatrix c, long idx, float v, float beta) {
        if (beta != 0) v = Math.fma(beta, c.seg().getAtIndex(Storage.F32, idx), v);
        c.seg().setAtIndex(Storage.F32, idx, v);
    }
}
