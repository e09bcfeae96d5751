package dev.kiln.backend.cpu;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Matrix-vector product against weight-only 4- or 8-bit weights with the activation row quantized
 * to int8 per sub-block of 32 (what ONNX Runtime's MatMulNBits may do at accuracy_level 4): each
 * sub-block's dot product is exact integer arithmetic, scaled by weight scale x activation scale.
 * On CPUs with AVX-512 VNNI it runs native/cpu/nbits_vnni.c (vpdpbusd; the Vector API has no int8
 * dot product, and decoding nibbles to floats holds its kernel to ~7 GB/s of codes per core on
 * Zen 4); {@link #gemv} with {@code nativeKernel} false runs the scalar twin, which gives the same
 * bits: the same integer sums, then the same float operations in the same order (16 lanes of
 * products per group of 4 sub-blocks, 4 lanes of zero-point corrections, lanes summed as a fixed tree).
 *
 * <p>{@link Weights} holds a weight in the kernel's layout (see the C file) off the Java heap, on
 * 2 MiB pages ({@link WeightSlab}); the caller builds it once per constant weight and closes it
 * with the weight. Columns are spread over the threads in pieces of at most
 * {@value #PIECE} columns per native call (the call is critical: heap arrays in place, no
 * safepoint while it runs, so each call is kept short).
 */
public final class NBitsVnni {
    private NBitsVnni() {}

    static final int PIECE = 256;

    private static final MethodHandle Q4 = handle("kiln_q4_gemv", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle Q8 = handle("kiln_q8_gemv", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle Q4_ROWS = handle("kiln_q4_gemv_rows", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle Q8_ROWS = handle("kiln_q8_gemv_rows", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle QUANT = handle("kiln_nbits_quant_acts", FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_FLOAT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    private static final boolean CPU = Q4 != null && Q8 != null;
    /** Activation rows per pass over the weights when the multi-row kernels are there (else 1). */
    static final int ROWS = Q4_ROWS != null && Q8_ROWS != null ? 8 : 1;

    /** The kernel's handle where the CPU has VNNI and the library has the symbol (an older library may not), else null. */
    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        if (!NativeCpu.cpuSupports("kiln_cpu_has_vnni")) return null;
        try {
            return NativeCpu.function(name, fd, true);
        } catch (IllegalStateException e) {
            return null;
        }
    }

    /** Whether the native kernel can run here (libkiln_cpu.so loaded, AVX-512 VNNI) and is not switched off ({@code -Dkiln.nbits.vnni=false}). */
    public static boolean available() {
        return CPU && !"false".equalsIgnoreCase(System.getProperty("kiln.nbits.vnni", "true"));
    }

    /**
     * A weight of cols columns in the kernel's layout: nsub sub-blocks of 32 per column (a multiple
     * of 4, zero-padded); codes 16 (4 bits) or 32 (8 bits) bytes per sub-block; ws the weight scale
     * and wz scale x zero point per column and sub-block, or wz null when every zero point is zp
     * (the kernel then reads ws in its place and multiplies the activation sums by zp, one weight
     * stream less; zp is a power of two, so both orders round alike).
     */
    public static final class Weights implements AutoCloseable {
        private final int bits, cols, nsub, zp;
        /** codes, then ws, then wz (when given), off the heap: see the class comment. */
        private final WeightSlab.Piece memory;
        /** Views of memory; wz is ws when the zero point is uniform. */
        final MemorySegment codes, ws, wz;
        private final boolean uniform;

        /**
         * The weight from its arrays (layout as in the class comment), copied into one off-heap
         * block; wz null means every zero point is zp.
         */
        public Weights(int bits, int cols, int nsub, byte[] codes, float[] ws, float[] wz, int zp) {
            if (bits != 4 && bits != 8) throw new IllegalArgumentException("NBitsVnni: bits must be 4 or 8, got " + bits);
            if (nsub % 4 != 0) throw new IllegalArgumentException("NBitsVnni: nsub must be a multiple of 4, got " + nsub);
            if (codes.length != (long) cols * nsub * bits * 4 || ws.length != cols * nsub || (wz != null && wz.length != cols * nsub))
                throw new IllegalArgumentException("NBitsVnni: arrays do not match " + cols + " columns x " + nsub + " sub-blocks");
            if (wz == null && zp != 1 << (bits - 1))
                throw new IllegalArgumentException("NBitsVnni: a uniform zero point must be " + (1 << (bits - 1)) + ", got " + zp);
            this.bits = bits;
            this.cols = cols;
            this.nsub = nsub;
            this.zp = zp;
            this.uniform = wz == null;
            long c = codes.length, f = 4L * ws.length, total = c + f * (wz == null ? 1 : 2);
            memory = WeightSlab.allocate(total);
            MemorySegment m = memory.segment;
            this.codes = m.asSlice(0, c);
            this.ws = m.asSlice(c, f);
            this.wz = wz == null ? this.ws : m.asSlice(c + f, f);
            MemorySegment.copy(codes, 0, this.codes, JAVA_BYTE, 0, codes.length);
            MemorySegment.copy(ws, 0, this.ws, JAVA_FLOAT_UNALIGNED, 0, ws.length);
            if (wz != null) MemorySegment.copy(wz, 0, this.wz, JAVA_FLOAT_UNALIGNED, 0, wz.length);
        }

        /** Per-block zero points (wz given). */
        public Weights(int bits, int cols, int nsub, byte[] codes, float[] ws, float[] wz) { this(bits, cols, nsub, codes, ws, wz, -1); }

        public int bits() { return bits; }
        public int cols() { return cols; }
        public int nsub() { return nsub; }
        /** The uniform zero point, or -1 with per-block zero points. */
        public int zp() { return zp; }
        /** Whether every zero point is {@link #zp} (no wz stream). */
        public boolean uniformZeroPoint() { return uniform; }
        /** Bytes the kernel streams per pass: codes and scales (and scale x zero point when per block). */
        public long bytes() { return codes.byteSize() + ws.byteSize() * (uniform ? 1 : 2); }

        /** Gives the off-heap memory back (see {@link WeightSlab} for a weight dropped unclosed). */
        @Override public void close() { memory.close(); }
    }

    /**
     * Symmetric weight-only quantization of w [k, n] (float32, any strides: a Linear weight stored
     * [in, out]) in this layout: per output column and block of 32 along k, scale = max|w| / 7 (4
     * bits) or / 127 (8 bits), codes round(w / scale) + 2^(bits-1) (zero point 8 or 128).
     */
    public static Weights quantize(Tensor w, int bits) {
        if (w.dim() != 2 || w.dtype() != DType.F32)
            throw new IllegalArgumentException("NBitsVnni.quantize: needs a float32 [k, n] weight, got " + w.dtype() + " " + java.util.Arrays.toString(w.shape()));
        if (bits != 4 && bits != 8) throw new IllegalArgumentException("NBitsVnni.quantize: bits must be 4 or 8, got " + bits);
        int k = w.size(0), n = w.size(1), nsub = subBlocks(k), zp = 1 << (bits - 1), max = bits == 4 ? 7 : 127, per = bits * 4;
        MemorySegment seg = w.segment();
        long off = w.offset(), rs = w.stride(0), cs = w.stride(1);
        byte[] codes = new byte[n * nsub * per];
        float[] ws = new float[n * nsub];
        Parallel.forRange(n, (long) k * 4, (j0, j1) -> {
            float[] v = new float[32];
            int[] c = new int[32];
            for (int j = j0; j < j1; j++)
                for (int s = 0; s * 32 < k; s++) {
                    float amax = 0;
                    for (int i = 0; i < 32; i++) {
                        int p = s * 32 + i;
                        v[i] = p < k ? seg.getAtIndex(dev.kiln.tensor.Storage.F32, off + p * rs + j * cs) : 0f;
                        amax = Math.max(amax, Math.abs(v[i]));
                    }
                    float scale = amax / max, inv = amax == 0 ? 0f : max / amax;
                    for (int i = 0; i < 32; i++) c[i] = Math.max(-max, Math.min(max, Math.round(v[i] * inv))) + zp;
                    int o = (j * nsub + s) * per;
                    if (bits == 4) for (int i = 0; i < 16; i++) codes[o + i] = (byte) (c[i] | c[i + 16] << 4);
                    else for (int i = 0; i < 32; i++) codes[o + i] = (byte) c[i];
                    ws[j * nsub + s] = scale;
                }
        });
        for (int j = 0; j < n; j++)                        // padding sub-blocks: zero-point codes, scale 0
            for (int s = (k + 31) / 32; s < nsub; s++) java.util.Arrays.fill(codes, (j * nsub + s) * per, (j * nsub + s + 1) * per, (byte) (bits == 4 ? 0x88 : 0x80));
        return new Weights(bits, n, nsub, codes, ws, null, zp);
    }

    /** Sub-blocks of 32 for k inputs, rounded up to a multiple of 4. */
    public static int subBlocks(int k) { return ((k + 31) / 32 + 3) / 4 * 4; }

    /** y[0:cols] = x . w (x has at least k = 32 * nsub... values or fewer, zero-extended); native or the scalar twin. */
    public static void gemv(Weights w, float[] x, float[] y, boolean nativeKernel) { gemvRows(w, x, x.length, 1, y, nativeKernel); }

    /**
     * y[r * cols + j] = x_r . w for each row r below rows, x_r = x[r * k, (r + 1) * k) (zero-extended to the
     * weight's sub-blocks): each row as {@link #gemv} computes it, the same bits, but where the
     * native multi-row kernels run each weight column is read once per group of up to {@link #ROWS}
     * rows (a batch of decode steps then reads the weights once, not once per sequence).
     */
    public static void gemvRows(Weights w, float[] x, int k, int rows, float[] y, boolean nativeKernel) {
        boolean nat = nativeKernel && CPU;
        int step = nat ? ROWS : 1;
        for (int r0 = 0; r0 < rows; r0 += step) columns(w, Acts.of(w, x, k, r0, Math.min(step, rows - r0), nat), y, r0, nat);
    }

    /** Quantized activation rows, concatenated per row: xq [rows][nsub*32] (xlo/xhi [rows][nsub*16] for 4 bits), xs and xsx [rows][nsub]. */
    record Acts(int rows, byte[] xq, byte[] xlo, byte[] xhi, float[] xs, float[] xsx) {
        /** One row of x (k values) for w's kernel (tests compare the native and Java quantizations). */
        static Acts row(Weights w, float[] x, int k, boolean nat) { return of(w, x, k, 0, 1, nat); }

        /**
         * Rows r0 .. r0 + rows of x (k values each, zero-extended) quantized for w's kernel: natively
         * where nat (native/cpu/nbits_vnni.c, one pass per row straight into the kernel's layout),
         * else by {@link #quantize} (the same bits).
         */
        static Acts of(Weights w, float[] x, int k, int r0, int rows, boolean nat) {
            int nsub = w.nsub, len = nsub * 32;
            float zpmul = w.uniform ? w.zp : 1f;
            byte[] xq = w.bits == 8 ? new byte[rows * len] : null;
            byte[] xlo = w.bits == 4 ? new byte[rows * nsub * 16] : null, xhi = w.bits == 4 ? new byte[rows * nsub * 16] : null;
            float[] xs = new float[rows * nsub], xsx = new float[rows * nsub];
            for (int r = 0; r < rows; r++) {
                int from = (r0 + r) * k, kr = Math.max(0, Math.min(k, x.length - from));
                if (nat && QUANT != null) {
                    MemorySegment a = MemorySegment.ofArray(w.bits == 4 ? xlo : xq).asSlice((long) r * (w.bits == 4 ? nsub * 16 : len));
                    MemorySegment b = w.bits == 4 ? MemorySegment.ofArray(xhi).asSlice((long) r * nsub * 16) : MemorySegment.NULL;
                    try {
                        QUANT.invokeExact(MemorySegment.ofArray(x).asSlice(4L * Math.min(from, x.length)), kr, nsub, w.bits, zpmul, a, b,
                                MemorySegment.ofArray(xs).asSlice(4L * r * nsub), MemorySegment.ofArray(xsx).asSlice(4L * r * nsub));
                    } catch (Throwable t) {
                        throw new IllegalStateException("MatMulNBits: native activation quantization failed: " + t, t);
                    }
                    continue;
                }
                byte[] q = new byte[len];
                float[] s = new float[nsub], sx = new float[nsub];
                quantize(java.util.Arrays.copyOfRange(x, from, from + kr), q, s, sx);
                for (int i = 0; i < nsub; i++) sx[i] *= zpmul;
                System.arraycopy(s, 0, xs, r * nsub, nsub);
                System.arraycopy(sx, 0, xsx, r * nsub, nsub);
                if (w.bits == 8) System.arraycopy(q, 0, xq, r * len, len);
                else for (int t = 0; t < nsub; t++) {
                    System.arraycopy(q, 32 * t, xlo, (r * nsub + t) * 16, 16);
                    System.arraycopy(q, 32 * t + 16, xhi, (r * nsub + t) * 16, 16);
                }
            }
            return new Acts(rows, xq, xlo, xhi, xs, xsx);
        }
    }

    /** Rows r0 .. r0 + a.rows of y from the quantized rows a: column ranges over the threads. */
    private static void columns(Weights w, Acts a, float[] y, int r0, boolean nat) {
        int nsub = w.nsub;
        // equal column ranges (multiples of 4) per thread; each in native calls of at most PIECE columns
        long bytes = w.bytes();
        int parts = bytes < 64 * 1024 ? 1 : Math.min(CpuConfig.threads(), (w.cols + 3) / 4);
        int quads = (w.cols + 3) / 4;
        Parallel.forChunks(parts, parts, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int from = Math.min(w.cols, 4 * (int) ((long) p * quads / parts)), to = Math.min(w.cols, 4 * (int) ((long) (p + 1) * quads / parts));
                for (int j0 = from; j0 < to; j0 += PIECE) {
                    int cols = Math.min(PIECE, to - j0);
                    if (nat && a.rows() > 1) callNativeRows(w, j0, cols, a, y, r0);
                    else if (nat) callNative(w, j0, cols, a.xlo(), a.xhi(), a.xq(), a.xs(), a.xsx(), y, r0 * w.cols);
                    else for (int j = j0; j < j0 + cols; j++)
                        y[r0 * w.cols + j] = w.bits == 4 ? column4(w, j, a.xlo(), a.xhi(), a.xs(), a.xsx()) : column8(w, j, a.xq(), a.xs(), a.xsx());
                }
            }
        });
    }

    /**
     * xq = x * (127 / max|x|) rounded to nearest even ({@link Math#rint}) and clamped to [-127, 127],
     * per sub-block of 32, with xs = max|x| / 127 (xq = 0 for an all-zero sub-block); xsx = xs * sum(xq).
     * x shorter than xq counts as zeros. The Java twin of native/cpu/nbits_vnni.c's
     * kiln_nbits_quant_acts (the same bits for finite x).
     */
    static void quantize(float[] x, byte[] xq, float[] xs, float[] xsx) {
        for (int s = 0; s < xs.length; s++) {
            int from = 32 * s, to = Math.min(x.length, from + 32);
            float amax = 0;
            for (int i = from; i < to; i++) amax = Math.max(amax, Math.abs(x[i]));
            float scale = amax / 127f, inv = amax == 0 ? 0f : 127f / amax;
            int sum = 0;
            for (int i = from; i < to; i++) {
                int q = (int) Math.max(-127, Math.min(127, Math.rint(x[i] * inv)));
                xq[i] = (byte) q;
                sum += q;
            }
            xs[s] = scale;
            xsx[s] = scale * sum;
        }
    }

    /** Columns [j0, j0 + cols) of one row into y from element y0 + j0. */
    private static void callNative(Weights w, int j0, int cols, byte[] xlo, byte[] xhi, byte[] xq, float[] xs, float[] xsx,
                                   float[] y, int y0) {
        MemorySegment codes = w.codes.asSlice((long) j0 * w.nsub * w.bits * 4);
        MemorySegment ws = w.ws.asSlice(4L * j0 * w.nsub), wz = w.wz.asSlice(4L * j0 * w.nsub);
        MemorySegment out = MemorySegment.ofArray(y).asSlice(4L * (y0 + j0));
        try {
            if (w.bits == 4) Q4.invokeExact(codes, ws, wz, w.nsub, MemorySegment.ofArray(xlo), MemorySegment.ofArray(xhi),
                    MemorySegment.ofArray(xs), MemorySegment.ofArray(xsx), cols, out);
            else Q8.invokeExact(codes, ws, wz, w.nsub, MemorySegment.ofArray(xq), MemorySegment.ofArray(xs), MemorySegment.ofArray(xsx), cols, out);
        } catch (Throwable t) {
            throw new IllegalStateException("MatMulNBits: native int8 kernel failed: " + t, t);
        }
    }

    /** Columns [j0, j0 + cols) of rows r0 .. r0 + a.rows into y (row stride w.cols), the weights read once for all rows. */
    private static void callNativeRows(Weights w, int j0, int cols, Acts a, float[] y, int r0) {
        MemorySegment codes = w.codes.asSlice((long) j0 * w.nsub * w.bits * 4);
        MemorySegment ws = w.ws.asSlice(4L * j0 * w.nsub), wz = w.wz.asSlice(4L * j0 * w.nsub);
        MemorySegment out = MemorySegment.ofArray(y).asSlice(4L * ((long) r0 * w.cols + j0));
        try {
            if (w.bits == 4) Q4_ROWS.invokeExact(codes, ws, wz, w.nsub, MemorySegment.ofArray(a.xlo()), MemorySegment.ofArray(a.xhi()),
                    MemorySegment.ofArray(a.xs()), MemorySegment.ofArray(a.xsx()), a.rows(), cols, out, (long) w.cols);
            else Q8_ROWS.invokeExact(codes, ws, wz, w.nsub, MemorySegment.ofArray(a.xq()), MemorySegment.ofArray(a.xs()),
                    MemorySegment.ofArray(a.xsx()), a.rows(), cols, out, (long) w.cols);
        } catch (Throwable t) {
            throw new IllegalStateException("MatMulNBits: native int8 kernel failed: " + t, t);
        }
    }

    /** The scalar twin of kiln_q4_gemv for column j. */
    private static float column4(Weights w, int j, byte[] xlo, byte[] xhi, float[] xs, float[] xsx) {
        int nsub = w.nsub;
        float[] acc = new float[16], corr = new float[4];
        long base = (long) j * nsub * 16;
        for (int q = 0; q < nsub; q += 4) {
            for (int l = 0; l < 16; l++) {
                int s = q + l / 4, p = 0;
                for (int b = 4 * (l % 4); b < 4 * (l % 4) + 4; b++) {
                    int code = w.codes.get(JAVA_BYTE, base + 16L * s + b) & 255;
                    p += (code & 15) * xlo[16 * s + b] + (code >> 4) * xhi[16 * s + b];
                }
                acc[l] = Math.fma((float) p, w.ws.getAtIndex(JAVA_FLOAT_UNALIGNED, (long) j * nsub + s) * xs[s], acc[l]);
            }
            for (int l = 0; l < 4; l++) corr[l] = Math.fma(w.wz.getAtIndex(JAVA_FLOAT_UNALIGNED, (long) j * nsub + q + l), xsx[q + l], corr[l]);
        }
        return finish(acc, corr);
    }

    /** The scalar twin of kiln_q8_gemv for column j. */
    private static float column8(Weights w, int j, byte[] xq, float[] xs, float[] xsx) {
        int nsub = w.nsub;
        float[] acc = new float[16], corr = new float[4];
        long base = (long) j * nsub * 32;
        for (int q = 0; q < nsub; q += 4) {
            for (int half = 0; half < 2; half++)
                for (int l = 0; l < 16; l++) {
                    int s = q + 2 * half + l / 8, p = 0;
                    for (int b = 4 * (l % 8); b < 4 * (l % 8) + 4; b++)
                        p += (w.codes.get(JAVA_BYTE, base + 32L * s + b) & 255) * xq[32 * s + b];
                    acc[l] = Math.fma((float) p, w.ws.getAtIndex(JAVA_FLOAT_UNALIGNED, (long) j * nsub + s) * xs[s], acc[l]);
                }
            for (int l = 0; l < 4; l++) corr[l] = Math.fma(w.wz.getAtIndex(JAVA_FLOAT_UNALIGNED, (long) j * nsub + q + l), xsx[q + l], corr[l]);
        }
        return finish(acc, corr);
    }

    /** The kernel's fixed tree: lanes l + (l + 8), then + 4, + 2, + 1; the corrections c + (c + 2), then + 1. */
    private static float finish(float[] acc, float[] corr) {
        float[] s = new float[8];
        for (int l = 0; l < 8; l++) s[l] = acc[l] + acc[l + 8];
        for (int l = 0; l < 4; l++) s[l] = s[l] + s[l + 4];
        for (int l = 0; l < 2; l++) s[l] = s[l] + s[l + 2];
        float c0 = corr[0] + corr[2], c1 = corr[1] + corr[3];
        return (s[0] + s[1]) - (c0 + c1);
    }
}
