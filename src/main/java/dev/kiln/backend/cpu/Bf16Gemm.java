package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;

/**
 * bf16 GEMM with f32 accumulation: {@code c[m, n] = bf16(a[m, k]) x bf16(B)}, B packed once (the
 * weights of a layer), A (f32 activations) rounded to bf16 (nearest even) as it is packed. This is
 * opt-in reduced precision: each input keeps 8 significant bits, so a product of n = 1024 random
 * terms differs from the f32 GEMM by about 1e-3 relative (docs/BENCHMARKS.md states the measured
 * figure); sums are f32.
 *
 * <p>Two kernels, one packed layout (blocks of 16 output columns; per pair of K, 16 dwords holding
 * column l's bf16 pair, even k in the low half):
 * <ul>
 *   <li>native ({@code native/cpu/bf16_gemm.c}, {@code vdpbf16ps}, via {@link NativeCpu}) on CPUs
 *       with AVX512-BF16 (Zen 4, Cooper Lake, Sapphire Rapids and later); the Java Vector API has
 *       no bf16 arithmetic, so this kernel is C;</li>
 *   <li>the Vector API fallback: each dword's halves widened to f32 (a shift and a mask, exact),
 *       two f32 FMAs per pair; used when the library or the CPU feature is missing, or with
 *       {@code -Dkiln.bf16.kernel=vector}.</li>
 * </ul>
 * AMX-BF16 tiles (Sapphire Rapids and later, {@code arch_prctl(ARCH_REQ_XCOMP_PERM)} before first
 * use) are not used yet. Work is split into tiles of up to {@value #ROW_TILE} rows and column
 * ranges; every output element is computed by one tile with the same K order, so the result does
 * not depend on the thread count.
 */
public final class Bf16Gemm {
    private Bf16Gemm() {}

    private static final int ROW_TILE = 96, BLOCK = 16;
    private static final MethodHandle PACK_B, GEMM, GEMV;
    private static final String UNAVAILABLE;
    private static volatile boolean useNative;

    static {
        MethodHandle pack = null, gemm = null, gemv = null;
        String why = null;
        if (System.getProperty("kiln.bf16.kernel", "auto").equals("vector")) why = "disabled by -Dkiln.bf16.kernel=vector";
        else if (!NativeCpu.loaded()) why = NativeCpu.unavailableReason();
        else if (!NativeCpu.cpuSupports("kiln_cpu_has_avx512bf16")) why = "CPU lacks AVX512-BF16";
        else {
            var A = ValueLayout.ADDRESS;
            var I = ValueLayout.JAVA_INT;
            var L = ValueLayout.JAVA_LONG;
            pack = NativeCpu.function("kiln_bf16_pack_b", FunctionDescriptor.ofVoid(A, L, L, I, I, A), false);
            // not a critical call: a tile runs for milliseconds (a 64 x 50257 LM head), and a thread in a
            // critical downcall holds off every safepoint of the JVM (GC, JIT): other threads stalled
            // for up to half a second (GPT-2 prefill p90 437-601 ms against p50 143); all operands are
            // off-heap, the scratch too
            gemm = NativeCpu.function("kiln_bf16_gemm", FunctionDescriptor.ofVoid(A, L, I, I, A, I, A, L, A), false);
            gemv = NativeCpu.function("kiln_bf16_gemv", FunctionDescriptor.ofVoid(A, I, A, I, A, A), false);
        }
        PACK_B = pack;
        GEMM = gemm;
        GEMV = gemv;
        UNAVAILABLE = why;
        useNative = gemm != null;
    }

    /** "native AVX512-BF16" or "Vector API (reason)". */
    public static String describe() {
        return useNative() ? "native AVX512-BF16" : "Vector API (" + (UNAVAILABLE == null ? "native kernel off" : UNAVAILABLE) + ")";
    }

    static boolean useNative() { return useNative && !CpuConfig.scalar(); }

    /** Tests switch between the kernels; returns the previous setting. */
    static boolean setNative(boolean on) {
        boolean old = useNative;
        if (on && GEMM == null) throw new IllegalStateException("bf16 gemm: native kernel unavailable: " + UNAVAILABLE);
        useNative = on;
        return old;
    }

    /** Why the native kernel is unavailable (null when it is available). */
    static String unavailableReason() { return UNAVAILABLE; }

    /** A B operand [k, n] rounded to bf16 and packed; close() frees it at once. */
    public static final class Packed implements AutoCloseable {
        final int k, n, kp;
        private final Arena arena;
        final MemorySegment seg;

        private Packed(int k, int n) { this(k, n, Arena.ofShared()); }

        private Packed(int k, int n, Arena arena) {
            this.k = k;
            this.n = n;
            this.kp = (k + 1) / 2;
            this.arena = arena;
            this.seg = arena.allocate((long) blocks() * kp * 64, 64);
        }

        int blocks() { return (n + BLOCK - 1) / BLOCK; }
        public int k() { return k; }
        public int n() { return n; }

        /** Frees the packed data at once (a no-op for a constant weight's copy, which the GC frees). */
        @Override public void close() {
            try {
                arena.close();
            } catch (UnsupportedOperationException automatic) {
                // Arena.ofAuto(): freed when unreachable
            }
        }
    }

    /** Packs b (F32 [k, n], or [n, k] when transB: a Linear weight) for {@link #gemm}. */
    public static Packed pack(Tensor b, boolean transB) { return pack(b, transB, Arena.ofShared()); }

    private record ConstantKey(long off, long rs, long cs, int k, int n) {}

    /**
     * The packed form of a constant weight b [k, n] (constant storage: a model's sealed weight),
     * made on first use and kept with the storage ({@link Storage#derived}; its memory is freed by
     * the GC once the storage drops it). Do not close it.
     */
    static Packed packConstant(Tensor b) {
        return b.storage().derived(new ConstantKey(b.offset(), b.stride(0), b.stride(1), b.size(0), b.size(1)),
                key -> pack(b, false, Arena.ofAuto()));
    }

    private static Packed pack(Tensor b, boolean transB, Arena arena) {
        if (b.dtype() != DType.F32 || b.dim() != 2)
            throw new IllegalArgumentException("bf16 gemm: weights must be a float32 matrix, got " + b.dtype().pyName() + " " + Shape.str(b.shape()));
        int k = b.size(transB ? 1 : 0), n = b.size(transB ? 0 : 1);
        long rs = b.stride(transB ? 1 : 0), cs = b.stride(transB ? 0 : 1);
        Packed p = new Packed(k, n, arena);
        MemorySegment src = b.segment().asSlice(b.offset() * Float.BYTES);
        if (PACK_B != null) {
            try {
                PACK_B.invokeExact(src, rs, cs, k, n, p.seg);
            } catch (Throwable t) {
                p.close();
                throw new IllegalStateException("bf16 gemm: native pack failed: " + t, t);
            }
        } else {
            for (int j = 0; j < n; j++) {
                long col = (long) (j / BLOCK) * p.kp * 32 + 2 * (j % BLOCK);
                for (int q = 0; q < k; q++)
                    p.seg.setAtIndex(ValueLayout.JAVA_SHORT, col + (long) (q / 2) * 32 + (q & 1),
                            DType.floatToBf16(src.getAtIndex(Storage.F32, q * rs + j * cs)));
            }
        }
        return p;
    }

    /** c = bf16(a) x b: a F32 [m, k] with unit column stride, c F32 [m, n] contiguous. */
    public static void gemm(Tensor a, Packed b, Tensor c) {
        if (a.dtype() != DType.F32 || c.dtype() != DType.F32 || a.dim() != 2 || c.dim() != 2 || a.size(1) != b.k
                || c.size(0) != a.size(0) || c.size(1) != b.n)
            throw new IllegalArgumentException("bf16 gemm: shapes do not match: a " + Shape.str(a.shape()) + " (" + a.dtype().pyName()
                    + "), packed b [" + b.k + ", " + b.n + "], c " + Shape.str(c.shape()) + " (" + c.dtype().pyName() + ")");
        if (!c.isContiguous()) throw new IllegalArgumentException("bf16 gemm: c must be contiguous");
        Tensor ac = a.stride(1) == 1 ? a : a.contiguous();
        try {
            run(ac.segment().asSlice(ac.offset() * Float.BYTES), ac.stride(0), a.size(0), b, c.segment().asSlice(c.offset() * Float.BYTES));
        } finally {
            if (ac != a) ac.close();
        }
    }

    private static void run(MemorySegment a, long lda, int m, Packed b, MemorySegment c) {
        int blocks = b.blocks(), threads = CpuConfig.threads();
        if (m == 1 && useNative()) {   // one row (a decode step): stream B, column ranges over the threads
            int tiles = Math.min(blocks, 4 * threads), useThreads = (long) b.n * b.k < (1L << 18) ? 1 : threads;
            CpuGemm.forBlocks(tiles, useThreads, t -> {
                int jb0 = (int) ((long) t * blocks / tiles), jb1 = (int) ((long) (t + 1) * blocks / tiles);
                int j0 = jb0 * BLOCK, cols = Math.min(b.n, jb1 * BLOCK) - j0;
                if (cols <= 0) return;
                try {
                    GEMV.invokeExact(a, b.k, b.seg.asSlice((long) jb0 * b.kp * 64), cols, c.asSlice((long) j0 * Float.BYTES),
                            scratch(2 * b.kp + 32));
                } catch (Throwable e) {
                    throw new IllegalStateException("bf16 gemm: native row kernel failed: " + e, e);
                }
            });
            return;
        }
        int rowTiles = (m + ROW_TILE - 1) / ROW_TILE, rowTile = ((m + rowTiles - 1) / rowTiles + 7) / 8 * 8;
        rowTiles = (m + rowTile - 1) / rowTile;
        int colTiles = rowTiles >= 2 * threads ? 1 : Math.min(blocks, (4 * threads + rowTiles - 1) / rowTiles);
        long work = (long) m * b.n * b.k;
        int useThreads = work < (1L << 20) ? 1 : threads;
        boolean nat = useNative();
        int tiles = rowTiles * colTiles, rt = rowTile, rts = rowTiles;
        CpuGemm.forBlocks(tiles, useThreads, t -> {
            int r0 = (t % rts) * rt, rows = Math.min(rt, m - r0);
            int tile = t / rts, jb0 = (int) ((long) tile * blocks / colTiles), jb1 = (int) ((long) (tile + 1) * blocks / colTiles);
            int j0 = jb0 * BLOCK, cols = Math.min(b.n, jb1 * BLOCK) - j0;
            if (cols <= 0) return;
            MemorySegment at = a.asSlice(r0 * lda * Float.BYTES), ct = c.asSlice(((long) r0 * b.n + j0) * Float.BYTES);
            MemorySegment bt = b.seg.asSlice((long) jb0 * b.kp * 64);
            if (nat) nativeTile(at, lda, rows, b.k, bt, cols, ct, b.n, scratch((rows + 7) / 8 * 8 * 2 * b.kp));
            else vectorTile(at, lda, rows, b.k, b.kp, bt, cols, ct, b.n);
        });
    }

    /** Per-thread native scratch for the packed A rows (bf16), grown as needed, freed by the GC with its thread. */
    private static final ThreadLocal<MemorySegment[]> SCRATCH = ThreadLocal.withInitial(() -> new MemorySegment[]{MemorySegment.NULL});

    private static MemorySegment scratch(int shorts) {
        MemorySegment[] s = SCRATCH.get();
        if (s[0].byteSize() < 2L * shorts) s[0] = Arena.ofAuto().allocate(2L * shorts, 64);
        return s[0];
    }

    private static void nativeTile(MemorySegment a, long lda, int m, int k, MemorySegment b, int n, MemorySegment c, long ldc, MemorySegment scratch) {
        try {
            GEMM.invokeExact(a, lda, m, k, b, n, c, ldc, scratch);
        } catch (Throwable t) {
            throw new IllegalStateException("bf16 gemm: native kernel failed: " + t, t);
        }
    }

    private static final VectorSpecies<Float> FS = CpuConfig.F32;
    private static final VectorSpecies<Integer> IS = FS.length() == 16 ? IntVector.SPECIES_512
            : FS.length() == 8 ? IntVector.SPECIES_256 : IntVector.SPECIES_128;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * The Vector API twin of the native tile: for each row and 16-column block, over the K pairs in
     * order, acc = fma(a_odd, b_odd, fma(a_even, b_even, acc)) in f32 with the bf16 halves widened
     * exactly (even k: the dword's low half shifted up; odd k: the high half masked).
     */
    private static void vectorTile(MemorySegment a, long lda, int m, int k, int kp, MemorySegment b, int n, MemorySegment c, long ldc) {
        int l = FS.length(), k2 = 2 * kp;
        float[] row = new float[k2];
        float[] acc = new float[BLOCK];
        for (int i = 0; i < m; i++) {
            for (int p = 0; p < k2; p++) row[p] = p < k ? DType.bf16ToFloat(DType.floatToBf16(a.getAtIndex(Storage.F32, i * lda + p))) : 0f;
            for (int jb = 0; jb * BLOCK < n; jb++) {
                long blk = (long) jb * kp * 64;
                for (int h = 0; h < BLOCK; h += l) {
                    FloatVector s = FloatVector.zero(FS);
                    for (int q = 0; q < kp; q++) {
                        IntVector w = IntVector.fromMemorySegment(IS, b, blk + q * 64L + h * 4L, LE);
                        FloatVector even = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                        FloatVector odd = w.and(0xffff0000).reinterpretAsFloats();
                        s = FloatVector.broadcast(FS, row[2 * q]).fma(even, s);
                        s = FloatVector.broadcast(FS, row[2 * q + 1]).fma(odd, s);
                    }
                    s.intoArray(acc, h);
                }
                int cols = Math.min(BLOCK, n - jb * BLOCK);
                for (int j = 0; j < cols; j++) c.setAtIndex(Storage.F32, i * ldc + jb * BLOCK + j, acc[j]);
            }
        }
    }
}
