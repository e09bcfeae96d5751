package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;
import static dev.kiln.backend.cuda.CudaException.checkDriver;

import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;

/**
 * Kiln's int8 GEMM on the GPU ({@code kernels/int8_gemm.cu}): C [M, N] int32 = A [M, K] int8 x
 * B [N, K]^T int8, both row-major with K contiguous (the layout of
 * {@link dev.kiln.compress.quant.Int8Gemm#matmulT}), exact; and the float requantization epilogue
 * with the same arithmetic as {@code Int8Gemm.requantize}'s float path.
 *
 * <p>{@link #plan} (pure Java, tested without a GPU) picks the kernel: a tensor-core tile kernel
 * ({@code mma.sync.m16n8k32.s8}, block 128 x 128 or 128 x 256) when the device is sm_80+, K is a
 * multiple of 16 and A, B are 16-byte aligned, and M >= 16; else the {@code __dp4a} kernel, which
 * takes any shape and alignment. Device-pointer methods only queue work on {@link #stream()}; the
 * host-array methods upload, run, wait and download (for checks). GPU host only (compile-only
 * elsewhere); requires {@link CudaAvailability#isAvailable()}. The peer is {@link CublasLtInt8}.
 */
public final class CudaInt8Gemm implements AutoCloseable {
    /** The kernels of {@code int8_gemm.cu}: name, block tile (rows x cols), pipeline stages. */
    public enum Variant {
        TILE_128x128("kiln_int8_gemm_nt_128x128", 128, 128, 4),
        TILE_128x256("kiln_int8_gemm_nt_128x256", 128, 256, 3),
        DP4A("kiln_int8_gemm_nt_dp4a", 16, 16, 0);

        final String kernel;
        final int tileM, tileN, stages;

        Variant(String kernel, int tileM, int tileN, int stages) {
            this.kernel = kernel;
            this.tileM = tileM;
            this.tileN = tileN;
            this.stages = stages;
        }

        /** True for the tensor-core kernels. */
        public boolean tiled() { return stages > 0; }

        /** Dynamic shared memory of one block: stages x (tileM + tileN) rows x 64 bytes of K. */
        int sharedBytes() { return stages * (tileM + tileN) * 64; }

        /** The kernel's name in the fatbin. */
        public String kernel() { return kernel; }
    }

    /** One launch: kernel, 1-D grid, block (x, y), dynamic shared bytes. */
    public record Launch(Variant variant, int grid, int blockX, int blockY, int sharedBytes) {}

    /** Grid cap of the grid-stride kernels (dp4a, requantize). */
    static final int MAX_STRIDE_GRID = 65536;

    private final int device, archMajor, smCount;
    private final CudaDeviceMemory mem;
    private final KernelModule module;
    private final CudaStream stream;

    public CudaInt8Gemm(int device) {
        if (!CudaAvailability.isAvailable()) throw new IllegalStateException(CudaAvailability.reason());
        this.device = device;
        this.mem = new CudaDeviceMemory(device);
        this.module = KernelModule.load("int8_gemm", device);
        this.stream = CudaStream.create(true);
        this.archMajor = attribute(cudart.cudaDevAttrComputeCapabilityMajor);
        this.smCount = attribute(cudart.cudaDevAttrMultiProcessorCount);
        if (archMajor >= 8) {
            for (Variant v : Variant.values()) {
                if (!v.tiled()) continue;
                checkDriver(cudart.cuFuncSetAttribute(module.function(v.kernel),
                        cudart.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, v.sharedBytes()),
                        "cuFuncSetAttribute(" + v.kernel + ", max dynamic shared " + v.sharedBytes() + ")");
            }
        }
    }

    private int attribute(int attr) {
        int[] v = new int[1];
        check(cudart.cudaDeviceGetAttribute(v, attr, device), "cudaDeviceGetAttribute(" + attr + ")");
        return v[0];
    }

    public CudaDeviceMemory memory() { return mem; }
    public CudaStream stream() { return stream; }
    /** The CUDA device these kernels run on. */
    public int device() { return device; }
    /** Streaming multiprocessors of the device (132 on an H200). */
    public int smCount() { return smCount; }
    /** Compute capability major version (9 on an H200). */
    public int archMajor() { return archMajor; }

    /**
     * The launch for C [m, n] = A [m, k] B [n, k]^T with A at device address {@code a} and B at
     * {@code b}, on a device of compute capability {@code archMajor}.x with {@code sms} SMs;
     * {@code forced} (null: automatic) selects a variant and fails when it cannot take the shape.
     * Automatic: dp4a unless sm_80+, k % 16 == 0, a and b 16-byte aligned and m >= 16; then
     * 128 x 256 when its blocks fill at least one wave of the SMs, else 128 x 128.
     */
    public static Launch plan(int m, int n, int k, long a, long b, int archMajor, int sms, Variant forced) {
        if (m < 0 || n < 0 || k < 0)
            throw new IllegalArgumentException("int8 gemm (cuda): negative size in A [" + m + ", " + k + "] x B [" + n + ", " + k + "]^T");
        String tiledNo = tiledRejection(k, a, b, archMajor);
        Variant v;
        if (forced != null) {
            if (forced.tiled() && tiledNo != null)
                throw new IllegalArgumentException("int8 gemm (cuda): " + forced.kernel + " cannot run A [" + m + ", " + k
                        + "] x B [" + n + ", " + k + "]^T: " + tiledNo);
            v = forced;
        } else if (tiledNo != null || m < 16) {
            v = Variant.DP4A;
        } else {
            v = tiles(m, n, Variant.TILE_128x256) >= sms ? Variant.TILE_128x256 : Variant.TILE_128x128;
        }
        long tiles = tiles(m, n, v);
        if (!v.tiled()) return new Launch(v, (int) Math.max(1, Math.min(tiles, MAX_STRIDE_GRID)), 16, 16, 0);
        if (tiles > Integer.MAX_VALUE)
            throw new IllegalArgumentException("int8 gemm (cuda): C [" + m + ", " + n + "] needs " + tiles + " blocks of "
                    + v.tileM + " x " + v.tileN + ", more than a grid holds");
        return new Launch(v, (int) Math.max(1, tiles), 256, 1, v.sharedBytes());
    }

    /** Why the tensor-core kernels cannot take this problem, or null when they can. */
    static String tiledRejection(int k, long a, long b, int archMajor) {
        if (archMajor < 8) return "mma.sync int8 needs sm_80 or newer (device is sm_" + archMajor + "x)";
        if (k % 16 != 0) return "K = " + k + " is not a multiple of 16";
        if ((a & 15) != 0 || (b & 15) != 0) return "A and B must be 16-byte aligned";
        return null;
    }

    /** Output tiles of variant v over C [m, n]. */
    static long tiles(int m, int n, Variant v) {
        return ((m + (long) v.tileM - 1) / v.tileM) * ((n + (long) v.tileN - 1) / v.tileN);
    }

    /**
     * The block tile (tm, tn) that block {@code pid} of a tiled launch computes: the kernel's
     * rasterization (groups of 8 block rows, walked column by column inside a group), mirrored here
     * so that its coverage can be tested on the CPU.
     */
    static long[] blockTile(long pid, long tilesM, long tilesN) {
        long group = 8 * tilesN, firstM = (pid / group) * 8, rows = Math.min(tilesM - firstM, 8), local = pid % group;
        return new long[] {firstM + local % rows, local / rows};
    }

    /** Queues C = A B^T (device int8 a [m, k], b [n, k], int32 c [m, n]) with the automatic kernel. */
    public Launch matmulT(long a, long b, long c, int m, int n, int k) {
        return matmulT(a, b, c, m, n, k, null);
    }

    /** Queues C = A B^T with variant {@code forced} (null: automatic); returns the launch used. */
    public Launch matmulT(long a, long b, long c, int m, int n, int k, Variant forced) {
        Launch l = plan(m, n, k, a, b, archMajor, smCount, forced);
        if ((long) m * n == 0) return l;
        try (KernelArgs args = new KernelArgs()) {
            args.ptr(a).ptr(b).ptr(c).i64(m).i64(n).i64(k);
            module.launch(l.variant().kernel, new int[] {l.grid(), 1, 1}, new int[] {l.blockX(), l.blockY(), 1},
                    l.sharedBytes(), stream, args);
        }
        return l;
    }

    /** C = A B^T from host arrays (a: m x k, b: n x k row-major); blocks until done. */
    public int[] matmulT(byte[] a, byte[] b, int m, int n, int k, Variant forced) {
        checkHost(a.length, m, k, "A");
        checkHost(b.length, n, k, "B");
        long da = upload(a), db = upload(b), dc = malloc(4L * m * n);
        try {
            memset(dc, 0x5A, 4L * m * n);  // not a stale result: a kernel that skips elements shows
            matmulT(da, db, dc, m, n, k, forced);
            stream.synchronize();
            return downloadInts(dc, m * n);
        } finally {
            free(da);
            free(db);
            free(dc);
        }
    }

    private static void checkHost(int length, int rows, int k, String what) {
        if ((long) rows * k != length)
            throw new IllegalArgumentException("int8 gemm (cuda): " + what + " has " + length + " bytes, expected " + rows + " x " + k);
    }

    /**
     * Queues y [m, n] (float) = act(aScale wScale[j] (acc - aZero wRowSum[j]) + bias[j]) over the
     * device int32 accumulator; wScale, wRowSum, bias are device arrays of n entries (bias may be 0).
     */
    public void requantize(long acc, long y, int m, int n, float aScale, int aZero, long wScale, long wRowSum, long bias,
                           boolean relu) {
        long total = (long) m * n;
        if (total == 0) return;
        int grid = (int) Math.min((total + 255) / 256, 4096);
        try (KernelArgs args = new KernelArgs()) {
            args.ptr(acc).ptr(y).i64(m).i64(n).f32(aScale).i32(aZero).ptr(wScale).ptr(wRowSum).ptr(bias).i32(relu ? 1 : 0);
            module.launch("kiln_int8_requantize_f32", new int[] {grid, 1, 1}, new int[] {256, 1, 1}, 0, stream, args);
        }
    }

    /**
     * One element of {@code kiln_int8_requantize_f32}, operation by operation as the kernel does it
     * (each float product and sum rounded on its own, int arithmetic wrapping), so that tests can
     * hold the kernel's recipe against {@code Int8Gemm.requantize} without a GPU.
     */
    static float requantizeMirror(int acc, float aScale, int aZero, float wScale, int wRowSum, float bias, boolean relu) {
        float scale = aScale * wScale;                 // __fmul_rn
        int centered = acc - aZero * wRowSum;          // unsigned (wrapping) int arithmetic
        float v = scale * (float) centered + bias;     // __int2float_rn, __fmul_rn, __fadd_rn
        if (relu && !(v > 0f) && v == v) v = 0f;       // Math.max(v, 0): NaN stays, -0 -> +0
        return v;
    }

    /** The epilogue from host arrays (acc: m x n row-major; bias may be null); blocks until done. */
    public float[] requantize(int[] acc, int m, int n, float aScale, int aZero, float[] wScale, int[] wRowSum, float[] bias,
                              boolean relu) {
        if ((long) m * n != acc.length || wScale.length != n || wRowSum.length != n || (bias != null && bias.length != n))
            throw new IllegalArgumentException("int8 requantize (cuda): need acc [" + m + ", " + n + "] and per-channel arrays of "
                    + n + " entries");
        long dAcc = upload(acc), dY = malloc(4L * m * n), dS = upload(wScale), dR = upload(wRowSum);
        long dB = bias == null ? 0 : upload(bias);
        try {
            memset(dY, 0x7F, 4L * m * n);
            requantize(dAcc, dY, m, n, aScale, aZero, dS, dR, dB, relu);
            stream.synchronize();
            return downloadFloats(dY, m * n);
        } finally {
            for (long p : new long[] {dAcc, dY, dS, dR, dB}) free(p);
        }
    }

    // ---- device memory helpers (synchronous copies) ----

    /** cudaMalloc of at least one byte. */
    public long malloc(long bytes) {
        long p = mem.malloc(Math.max(1, bytes));
        if (p == 0)
            throw new DeviceOutOfMemoryException("int8 gemm (cuda): out of device memory allocating " + bytes + " bytes", bytes, -1);
        return p;
    }

    /** Frees a device address from {@link #malloc} or an upload; 0 is ignored. */
    public void free(long p) {
        if (p != 0) mem.free(p);
    }

    public long upload(byte[] v) {
        long d = malloc(v.length);
        try (BytePointer h = new BytePointer(v)) {
            copyIn(d, h, v.length);
        }
        return d;
    }

    public long upload(short[] v) {
        long d = malloc(2L * v.length);
        try (ShortPointer h = new ShortPointer(v)) {
            copyIn(d, h, 2L * v.length);
        }
        return d;
    }

    public long upload(int[] v) {
        long d = malloc(4L * v.length);
        try (IntPointer h = new IntPointer(v)) {
            copyIn(d, h, 4L * v.length);
        }
        return d;
    }

    public long upload(float[] v) {
        long d = malloc(4L * v.length);
        try (FloatPointer h = new FloatPointer(v)) {
            copyIn(d, h, 4L * v.length);
        }
        return d;
    }

    /**
     * Host -> device on {@link #stream()}, then waits: the stream is non-blocking, so a plain
     * cudaMemcpy (legacy stream; from pageable memory it may return before the DMA lands) would not
     * be ordered before the kernels queued next.
     */
    void copyIn(long d, Pointer h, long bytes) {
        CudaContext.makeCurrent(device);
        check(cudart.cudaMemcpyAsync(DevicePointers.at(d), h, bytes, cudart.cudaMemcpyHostToDevice, stream.handle()),
                "cudaMemcpyAsync H2D " + bytes + " bytes");
        stream.synchronize();
    }

    /** Device -> host on {@link #stream()} (after the work queued there), then waits. */
    void copyOut(Pointer h, long d, long bytes) {
        CudaContext.makeCurrent(device);
        check(cudart.cudaMemcpyAsync(h, DevicePointers.at(d), bytes, cudart.cudaMemcpyDeviceToHost, stream.handle()),
                "cudaMemcpyAsync D2H " + bytes + " bytes");
        stream.synchronize();
    }

    /** Sets {@code bytes} bytes at d to {@code value}, queued on {@link #stream()}. */
    public void memset(long d, int value, long bytes) {
        CudaContext.makeCurrent(device);
        check(cudart.cudaMemsetAsync(DevicePointers.at(d), value, bytes, stream.handle()), "cudaMemsetAsync");
    }

    public int[] downloadInts(long d, int count) {
        int[] out = new int[count];
        try (IntPointer h = new IntPointer(count)) {
            copyOut(h, d, 4L * count);
            h.get(out);
        }
        return out;
    }

    public float[] downloadFloats(long d, int count) {
        float[] out = new float[count];
        try (FloatPointer h = new FloatPointer(count)) {
            copyOut(h, d, 4L * count);
            h.get(out);
        }
        return out;
    }

    @Override
    public void close() {
        try {
            module.close();
        } finally {
            stream.close();
        }
    }
}
