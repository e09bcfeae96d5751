package dev.kiln.compress.quant;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.backend.cpu.NativeCpu;
import dev.kiln.backend.cpu.Parallel;
import dev.kiln.backend.cpu.WeightSlab;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The int8 GEMM on AVX-512 VNNI ({@code vpdpbusd}: 64 int8 multiply-adds per instruction), a C
 * tile kernel ({@code native/cpu/int8_vnni.c}, built by {@code native/build-cpu.sh} and packed in
 * the jar as {@code native/libkiln_cpu.so}) called through the FFM API with heap arrays passed
 * in place (critical downcalls, no copies). The Java Vector API has no int8 dot product, which
 * leaves the portable {@link Int8GemmKernel} well short of int8's arithmetic rate; this kernel is
 * used when the library is present and the CPU has VNNI, and {@link Int8GemmKernel} otherwise.
 *
 * <p>Layout (see the C file): A rows as signed bytes with K padded by zeros to a multiple of 4; B
 * as unsigned bytes b + 128 in blocks of 16 columns x groups of 4 along K. The kernel yields
 * sum(a (b + 128)) - 128 sum(a) per row (the row sums come from {@code kiln_i8_rowsums}), exact.
 *
 * <p>Selection: {@code -Dkiln.int8.kernel=auto} (default), {@code vector} (never native) or
 * {@code native} (fail loudly when unavailable); the library itself is loaded by {@link NativeCpu}.
 */
final class Int8VnniKernel {
    private Int8VnniKernel() {}

    static final int LANES = 16;
    /** Rows and 16-column blocks per parallel task. */
    private static final int ROW_TILE = 96, BLOCK_TILE = 16;

    private static final MethodHandle TILE, ROW_SUMS, RANGE, QUANTIZE, CONV, CONV_PACK, CONV_PACK_TAPS, CONV_CODES, CONV_PACK_CODES, CONV_CODES_POOL2;
    private static final String UNAVAILABLE;
    private static volatile boolean enabled;

    static {
        MethodHandle[] handles = null;
        String why = null;
        String mode = System.getProperty("kiln.int8.kernel", "auto");
        if (mode.equals("vector")) {
            why = "disabled by -Dkiln.int8.kernel=vector";
        } else {
            try {
                handles = bind();
            } catch (Throwable e) {
                why = e.getMessage() == null ? e.toString() : e.getMessage();
            }
        }
        if (mode.equals("native") && handles == null)
            throw new IllegalStateException("int8 gemm: -Dkiln.int8.kernel=native but the VNNI kernel is unavailable: " + why);
        TILE = handles == null ? null : handles[0];
        ROW_SUMS = handles == null ? null : handles[1];
        RANGE = handles == null ? null : handles[2];
        QUANTIZE = handles == null ? null : handles[3];
        CONV = handles == null ? null : handles[4];
        CONV_PACK = handles == null ? null : handles[5];
        CONV_PACK_TAPS = handles == null ? null : handles[6];
        CONV_CODES = handles == null ? null : handles[7];
        CONV_PACK_CODES = handles == null ? null : handles[8];
        CONV_CODES_POOL2 = handles == null ? null : handles[9];
        UNAVAILABLE = why;
        enabled = handles != null;
    }

    /**
     * True when quantized layers will use this kernel (library loaded, CPU has VNNI, not switched
     * off); its other entry points (range, quantizeRows, conv and its packers) are bound with it.
     */
    static boolean enabled() { return enabled && !CpuConfig.scalar(); }

    /** Why the kernel is not available (null when it is). */
    static String unavailableReason() { return UNAVAILABLE; }

    /** Tests and benchmarks switch between this kernel and the Vector API one; returns the old setting. */
    static boolean setEnabled(boolean on) {
        boolean old = enabled;
        if (on && TILE == null) throw new IllegalStateException("int8 gemm: VNNI kernel unavailable: " + UNAVAILABLE);
        enabled = on;
        return old;
    }

    /** Human-readable kernel name for benchmark reports. */
    static String describe() { return enabled() ? "native AVX-512 VNNI" : "Vector API (" + (UNAVAILABLE == null ? "VNNI kernel off" : UNAVAILABLE) + ")"; }

    /**
     * {tile kernel, row sums, quantization range, row quantizer, direct conv, its input packers by
     * channel and by tap, the direct conv with int8 codes out, the packer from int8 codes, the
     * direct conv with a 2 x 2 max pool and int8 codes out}.
     */
    private static MethodHandle[] bind() {
        if (!NativeCpu.loaded()) throw new IllegalStateException(NativeCpu.unavailableReason());
        if (!NativeCpu.cpuSupports("kiln_cpu_has_vnni")) throw new IllegalStateException("CPU lacks AVX-512 VNNI");
        var A = ValueLayout.ADDRESS;
        var I = ValueLayout.JAVA_INT;
        var L = ValueLayout.JAVA_LONG;
        var F = ValueLayout.JAVA_FLOAT;
        return new MethodHandle[]{
                NativeCpu.function("kiln_i8_vnni_tile", FunctionDescriptor.ofVoid(A, L, I, A, I, I, A, L, A), true),
                NativeCpu.function("kiln_i8_rowsums", FunctionDescriptor.ofVoid(A, L, I, I, A), true),
                NativeCpu.function("kiln_f32_quant_range", FunctionDescriptor.ofVoid(A, L, A), true),
                NativeCpu.function("kiln_f32_quantize_rows", FunctionDescriptor.ofVoid(A, L, I, F, F, A, A), true),
                NativeCpu.function("kiln_i8_conv_direct",
                        FunctionDescriptor.ofVoid(A, L, L, I, I, I, I, I, I, I, A, I, A, A, A, I, A), true),
                NativeCpu.function("kiln_i8_conv_pack", FunctionDescriptor.ofVoid(A, I, I, I, I, F, F, F, F, I, I, I, L, I, A), true),
                NativeCpu.function("kiln_i8_conv_pack_taps", FunctionDescriptor.ofVoid(A, I, I, I, F, F, F, F, I, I, I, I, I, I, L, I, A, A), true),
                NativeCpu.function("kiln_i8_conv_direct_codes",
                        FunctionDescriptor.ofVoid(A, L, L, I, I, I, I, I, I, I, A, I, A, A, A, I, A, A), true),
                NativeCpu.function("kiln_i8_conv_pack_codes", FunctionDescriptor.ofVoid(A, I, I, I, I, I, I, I, L, I, A), true),
                NativeCpu.function("kiln_i8_conv_direct_codes_pool2",
                        FunctionDescriptor.ofVoid(A, L, L, I, I, I, I, I, I, I, A, I, A, A, A, I, A, A), true)};
    }

    /** Groups of 4 along K. */
    static int groups(int k) { return (k + 3) / 4; }

    /**
     * B [n, k] int8 row-major in the kernel's layout (blocks of 16 columns, K groups of 4, b + 128),
     * off the heap on 2 MiB pages ({@link WeightSlab}: a decode step streams every weight from DRAM
     * once per token, and the hardware prefetcher stops at each 4 KiB page of a heap array).
     */
    static WeightSlab.Piece packB(byte[] bv, int n, int k) {
        int k4 = groups(k), blocks = (n + LANES - 1) / LANES;
        byte[] out = new byte[Math.toIntExact((long) blocks * k4 * 64)];
        java.util.Arrays.fill(out, (byte) 0x80);   // b = 0 in padding
        for (int j = 0; j < n; j++) {
            int base = (j / LANES) * k4 * 64 + 4 * (j % LANES);
            for (int p = 0; p < k; p++) out[base + (p >> 2) * 64 + (p & 3)] = (byte) (bv[j * k + p] + 128);
        }
        WeightSlab.Piece piece = WeightSlab.allocate(out.length);
        MemorySegment.copy(out, 0, piece.segment(), ValueLayout.JAVA_BYTE, 0, out.length);
        return piece;
    }

    /**
     * cPad [m, blocks * 16] = A [m, k] x B^T, exact: A row-major int8 (first m k bytes of a),
     * B packed by {@link #packB} with {@code blocks} blocks. Written into {@code scratch} when it is
     * large enough (every element is overwritten), else into a new array. epilogue (null: none)
     * gets each finished tile on the thread that computed it.
     */
    static int[] run(byte[] a, int m, int k, MemorySegment bPacked, int blocks, int[] scratch, Int8Gemm.Epilogue epilogue) {
        int k4 = groups(k), lda = 4 * k4, nPad = blocks * LANES;
        byte[] ap = a;
        if (lda != k) {                       // pad K with zeros to whole groups
            ap = new byte[Math.toIntExact((long) m * lda)];
            for (int i = 0; i < m; i++) System.arraycopy(a, i * k, ap, i * lda, k);
        }
        // with an epilogue each tile goes to a per-thread buffer that stays in the core's L2 (BERT's
        // 256 x 3072 int32 product is 3 MB: written out whole, it went to L3 and memory and back)
        int[] c = epilogue != null ? null
                : scratch != null && scratch.length >= (long) m * nPad ? scratch : new int[Math.toIntExact((long) m * nPad)];
        // tiles of at most ROW_TILE rows, as equal as multiples of 8 allow, so threads get equal work
        int rowTiles = (m + ROW_TILE - 1) / ROW_TILE;
        int rowTile = Math.min(ROW_TILE, ((m + rowTiles - 1) / rowTiles + 7) / 8 * 8);
        rowTiles = (m + rowTile - 1) / rowTile;
        // few rows (a decode step: m = 1): narrower column tiles, so that every thread gets about 4
        // (N = 768 made 3 tiles of 16 blocks: one thread did two, the other one)
        int threads = CpuConfig.threads();
        int blockTile = rowTiles >= 4 * threads ? BLOCK_TILE
                : Math.max(1, Math.min(BLOCK_TILE, blocks / Math.max(1, 4 * threads / rowTiles)));
        int colTiles = (blocks + blockTile - 1) / blockTile;
        // few tiles: BERT's 256 rows x 768 columns made 3 x 3 tiles, 5 for one thread and 4 for the other
        if (threads > 1 && BALANCED_ROWS && rowTiles * colTiles < 16 * threads) {
            rowTile = balancedRowTile(m, rowTile, colTiles, threads);
            rowTiles = (m + rowTile - 1) / rowTile;
        }
        long cost = (long) Math.min(m, rowTile) * blockTile * LANES * k / 8;
        final int bt = blockTile;
        final byte[] av = ap;
        final int rt = rowTile;
        final int rowTilesF = rowTiles;
        Parallel.forRange(rowTiles * colTiles, cost, (s, e) -> {
            int[] fix = new int[rt];            // 128 * sum(a row): the +128 offset of B, per tile's rows
            int fixRow = -1;
            for (int t = s; t < e; t++) {
                // column-major task order: a thread's contiguous range covers few column tiles, so
                // its share of the packed weights stays in its L2 while it walks down the rows
                int r0 = (t % rowTilesF) * rt, jb0 = (t / rowTilesF) * bt;
                int rows = Math.min(rt, m - r0), nb = Math.min(bt, blocks - jb0);
                if (fixRow != r0) {
                    rowSums(av, (long) r0 * lda, lda, rows, fix, 0);   // K padding is zero: sums over lda are exact
                    for (int i = 0; i < rows; i++) fix[i] *= 128;
                    fixRow = r0;
                }
                if (epilogue == null) {
                    tile(av, (long) r0 * lda, lda, rows, bPacked, (long) jb0 * k4 * 64, k4, nb, c, (long) r0 * nPad + (long) jb0 * LANES, nPad, fix);
                } else {
                    int[] buf = TILE_BUFFER.get().ints(rt * bt * LANES);
                    tile(av, (long) r0 * lda, lda, rows, bPacked, (long) jb0 * k4 * 64, k4, nb, buf, 0, bt * LANES, fix);
                    epilogue.block(buf, 0, bt * LANES, r0, rows, jb0 * LANES, nb * LANES);
                }
            }
        });
        return c;
    }

    /** A thread's tile of C for the epilogue path of {@link #run} (grown as needed, reused). */
    private static final class TileBuffer {
        private int[] c = new int[0];

        int[] ints(int n) { return c.length >= n ? c : (c = new int[n]); }
    }

    private static final ThreadLocal<TileBuffer> TILE_BUFFER = ThreadLocal.withInitial(TileBuffer::new);

    /** -Dkiln.int8.balancedRows=false: the row tiles of the first fit only (to compare). */
    static volatile boolean BALANCED_ROWS = !"false".equals(System.getProperty("kiln.int8.balancedRows"));

    /** Rows x column tiles of the busiest thread when forRange splits the column-major tasks of rt-row tiles into contiguous runs. */
    static long busiestRows(int m, int rt, int colTiles, int threads) {
        int rowTiles = (m + rt - 1) / rt, tasks = rowTiles * colTiles, chunks = Math.min(threads, tasks);
        long worst = 0;
        for (int c = 0, start = 0; c < chunks; c++) {
            int len = tasks / chunks + (c < tasks % chunks ? 1 : 0);
            long work = 0;
            for (int t = start; t < start + len; t++) work += Math.min(rt, m - (t % rowTiles) * rt);
            worst = Math.max(worst, work);
            start += len;
        }
        return worst;
    }

    /**
     * The row tile (a multiple of 8, from rowTile down to 32, or rowTile when it is smaller) whose tiles, split into threads
     * contiguous runs of tasks in the kernel's column-major order as {@link Parallel#forRange} splits
     * them, give the busiest thread the least work (rows x column tiles); the larger tile on ties.
     */
    static int balancedRowTile(int m, int rowTile, int colTiles, int threads) {
        int best = rowTile, floor = Math.min(32, rowTile);
        long bestMax = Long.MAX_VALUE;
        for (int tiles = (m + rowTile - 1) / rowTile; ; tiles++) {
            int rt = ((m + tiles - 1) / tiles + 7) / 8 * 8;
            if (rt < floor) break;
            long worst = busiestRows(m, rt, colTiles, threads);
            if (worst < bestMax) {
                bestMax = worst;
                best = rt;
            }
            if (rt <= floor) break;
        }
        return best;
    }

    /** out[o0 + r] = sum of row r of the rows x lda int8 block at a[aOff] (row stride lda), for r in [0, rows). */
    private static void rowSums(byte[] a, long aOff, int lda, int rows, int[] out, int o0) {
        try {
            ROW_SUMS.invokeExact(MemorySegment.ofArray(a).asSlice(aOff), (long) lda, rows, lda, MemorySegment.ofArray(out).asSlice(4L * o0));
        } catch (Throwable t) {
            throw new IllegalStateException("int8 gemm: native row sums failed: " + t, t);
        }
    }

    private static void tile(byte[] a, long aOff, int lda, int rows, MemorySegment b, long bOff, int k4, int nb, int[] c, long cOff, int ldc,
                             int[] fix) {
        try {
            TILE.invokeExact(MemorySegment.ofArray(a).asSlice(aOff), (long) lda, rows,
                    b.asSlice(bOff), k4, nb,
                    MemorySegment.ofArray(c).asSlice(cOff * 4), (long) ldc, MemorySegment.ofArray(fix));
        } catch (Throwable t) {
            throw new IllegalStateException("int8 gemm: native VNNI tile failed: " + t, t);
        }
    }

    /** {min(0, min x), max(0, max x)} over n floats of native x at byte offset off; NaN for both if x holds a NaN. */
    static float[] range(MemorySegment x, long off, long n) {
        float[] out = new float[2];
        try {
            RANGE.invokeExact(x.asSlice(off, 4 * n), n, MemorySegment.ofArray(out));
        } catch (Throwable t) {
            throw new IllegalStateException("int8 quantize: native range failed: " + t, t);
        }
        return out;
    }

    /**
     * Rows [r0, r1) of native x ([m, k] row-major at byte offset off) quantized to a' = clamp(rint(x / scale)
     * + shift, -128, 127) (NaN: 0) into out (row stride k), with each row's sum of a' into rowSum.
     */
    static void quantizeRows(MemorySegment x, long off, int k, int r0, int r1, float scale, float shift, byte[] out, int[] rowSum) {
        try {
            QUANTIZE.invokeExact(x.asSlice(off + 4L * r0 * k, 4L * (r1 - r0) * k), (long) k, r1 - r0, scale, shift,
                    MemorySegment.ofArray(out).asSlice((long) r0 * k), MemorySegment.ofArray(rowSum).asSlice(4L * r0));
        } catch (Throwable t) {
            throw new IllegalStateException("int8 quantize: native row quantizer failed: " + t, t);
        }
    }

    /**
     * Images [b0, b1) of the direct int8 convolution (stride 1; see kiln_i8_conv_direct): in holds
     * each image's unsigned codes as [c4][planeElems][4] bytes (imgStride bytes per image), w the
     * weights [o][kh][kw][c4][4]. With next null, out (native) gets [n][o][oh][ow] floats at float
     * offset outOff; else the next layer's int8 codes (kiln_i8_conv_direct_codes): each float result
     * quantized with next = {scale, zero point, qmin, qmax} as that layer's input packing would,
     * [n][o][oh][ow] bytes at byte offset outOff, or with pool2 the 2 x 2, stride 2 max pool applied
     * first (kiln_i8_conv_direct_codes_pool2; ow &lt;= 32): [n][o][oh / 2][ow / 2].
     */
    static void conv(byte[] in, long imgStride, long planeElems, int b0, int b1, int c4, int wp, int oh, int ow, int kh, int kw,
                     byte[] w, int o, int[] corr, float[] scale, float[] add, boolean relu, float[] next, boolean pool2,
                     MemorySegment out, long outOff) {
        long perImage = pool2 ? (long) o * (oh / 2) * (ow / 2) : (long) o * oh * ow;
        MemorySegment dst = next == null ? out.asSlice(4 * (outOff + b0 * perImage)) : out.asSlice(outOff + b0 * perImage);
        MemorySegment inputs = MemorySegment.ofArray(in).asSlice(b0 * imgStride), weights = MemorySegment.ofArray(w);
        MemorySegment cs = MemorySegment.ofArray(corr), ss = MemorySegment.ofArray(scale), as = MemorySegment.ofArray(add);
        try {
            if (next == null)
                CONV.invokeExact(inputs, imgStride, 4 * planeElems, b1 - b0, c4, wp, oh, ow, kh, kw, weights, o, cs, ss, as, relu ? 1 : 0, dst);
            else
                (pool2 ? CONV_CODES_POOL2 : CONV_CODES).invokeExact(inputs, imgStride, 4 * planeElems, b1 - b0, c4, wp, oh, ow, kh, kw,
                        weights, o, cs, ss, as, relu ? 1 : 0, MemorySegment.ofArray(next), dst);
        } catch (Throwable t) {
            throw new IllegalStateException("int8 conv: native direct conv failed: " + t, t);
        }
    }

    /**
     * Images [b0, b1) of int8 codes xq (native, [n][c][h][w] bytes at byte offset xOff), already in
     * this layer's quantization, into the direct conv's input as {@link #convPack} lays out what it
     * quantizes (see kiln_i8_conv_pack_codes).
     */
    static void convPackCodes(MemorySegment xq, long xOff, int b0, int b1, int c, int h, int w, int ph, int pw, int wp, long planeElems,
                              byte zeroCode, byte[] in) {
        long imgStride = 4L * ((c + 3) / 4) * planeElems;
        try {
            CONV_PACK_CODES.invokeExact(xq.asSlice(xOff + (long) b0 * c * h * w), b1 - b0, c, h, w, ph, pw, wp, planeElems,
                    zeroCode & 0xff, MemorySegment.ofArray(in).asSlice(b0 * imgStride));
        } catch (Throwable t) {
            throw new IllegalStateException("int8 conv: native input packing failed: " + t, t);
        }
    }

    /**
     * Images [b0, b1) of x (native, [n][c][h][w] floats at float offset xOff) quantized into the
     * direct conv's input (see kiln_i8_conv_pack): codes q + 128 of q = clamp(rint(x / s) + z, lo, hi)
     * (the bits of Int8Weights.quantize), at pixel (y + ph, x + pw) of planes of planeElems words of
     * width wp, zeroCode elsewhere; into in from image b0's block on.
     */
    static void convPack(MemorySegment x, long xOff, int b0, int b1, int c, int h, int w, float s, float z, float lo, float hi,
                         int ph, int pw, int wp, long planeElems, byte zeroCode, byte[] in) {
        long imgStride = 4L * ((c + 3) / 4) * planeElems;
        try {
            CONV_PACK.invokeExact(x.asSlice(4 * (xOff + (long) b0 * c * h * w)), b1 - b0, c, h, w, s, z, lo, hi, ph, pw, wp, planeElems,
                    zeroCode & 0xff, MemorySegment.ofArray(in).asSlice(b0 * imgStride));
        } catch (Throwable t) {
            throw new IllegalStateException("int8 conv: native input packing failed: " + t, t);
        }
    }

    /**
     * The same for one input channel with the taps in place of channels (see kiln_i8_conv_pack_taps):
     * per image, ceil(kh kw / 4) planes of oh x ow words (planeElems each), word (g, y, x) holding the
     * codes under taps 4g..4g+3 of output pixel (y, x); the conv then runs as 1 x 1 over those groups.
     */
    static void convPackTaps(MemorySegment x, long xOff, int b0, int b1, int h, int w, float s, float z, float lo, float hi,
                             int kh, int kw, int ph, int pw, int oh, int ow, long planeElems, byte zeroCode, byte[] in) {
        long imgStride = 4L * ((kh * kw + 3) / 4) * planeElems;
        byte[] plane = new byte[(h + 2 * ph) * (w + 2 * pw + 16)];
        try {
            CONV_PACK_TAPS.invokeExact(x.asSlice(4 * (xOff + (long) b0 * h * w)), b1 - b0, h, w, s, z, lo, hi, kh, kw, ph, pw, oh, ow,
                    planeElems, zeroCode & 0xff, MemorySegment.ofArray(plane), MemorySegment.ofArray(in).asSlice(b0 * imgStride));
        } catch (Throwable t) {
            throw new IllegalStateException("int8 conv: native tap packing failed: " + t, t);
        }
    }
}
