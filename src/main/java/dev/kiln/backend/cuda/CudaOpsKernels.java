package dev.kiln.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The launch machinery shared by the CUDA backend's ops: the kernel families of {@code kernels/}
 * loaded lazily once per device ({@link KernelModule}), launches on the backend's stream, grid sizes
 * following each file's header guidance, the 288-byte {@code KilnIndexer} struct, and stream-ordered
 * scratch buffers. All work runs on one stream, so scratch returned to the allocator right after
 * being queued is safe to reuse by later work on that stream (the caching-allocator rule of PyTorch).
 */
final class CudaOpsKernels {
    /** Max dims of a KilnIndexer (KILN_MAX_DIMS in kernels/kiln_common.cuh). */
    static final int MAX_DIMS = 8;
    /** sizeof(KilnIndexer): int32 ndim, int32 pad, int64 shape[8], int64 stride[3][8], int64 offset[3]. */
    static final int INDEXER_BYTES = 8 + 8 * MAX_DIMS + 8 * 3 * MAX_DIMS + 8 * 3;
    /** H200 SM count used by the headers' grid guidance. */
    private static final int SMS = 132;

    private final int device;
    private final CudaStream stream;
    private final CachingAllocator allocator;
    private final Map<String, KernelModule> modules = new ConcurrentHashMap<>();

    CudaOpsKernels(int device, CudaStream stream, CachingAllocator allocator) {
        this.device = device;
        this.stream = stream;
        this.allocator = allocator;
    }

    CudaStream stream() {
        return stream;
    }

    CachingAllocator allocator() {
        return allocator;
    }

    /** Makes this device current on the calling thread (primary context for the driver API). */
    void makeCurrent() {
        CudaContext.makeCurrent(device);
    }

    private KernelModule module(String family) {
        return modules.computeIfAbsent(family, f -> KernelModule.load(f, device));
    }

    /** Queues kernels/family.cu's kernel with a 1-D or 2-D launch (via {@link CudaContext}); closes args. */
    void launch(String family, String kernel, int[] grid, int[] block, KernelArgs args) {
        try (args) {
            module(family).launch(kernel, grid, block, 0, stream, args.array());
        }
    }

    /** 1-D launch of 256 threads, grid = min(ceil(n / (256 * perThread)), maxBlocksPerSm * SMs), >= 1. */
    void launch1d(String family, String kernel, long n, int perThread, int maxBlocksPerSm, KernelArgs args) {
        long blocks = Math.max(1, Math.min((n + 256L * perThread - 1) / (256L * perThread), (long) SMS * maxBlocksPerSm));
        launch(family, kernel, new int[] {(int) blocks, 1, 1}, new int[] {256, 1, 1}, args);
    }

    /** Elements per 16-byte packet of an f32/f64 kernel. */
    static int lanes(dev.kiln.tensor.DType t) {
        return 16 / t.byteSize();
    }

    /** Row-kernel block (BX, BY) for reduce.cu by row length (the header's guidance). */
    static int[] rowBlock(long cols) {
        if (cols <= 256) return new int[] {32, 8, 1};
        if (cols <= 4096) return new int[] {256, 1, 1};
        return new int[] {1024, 1, 1};
    }

    static int[] rowGrid(long rows, int[] block) {
        long g = Math.max(1, Math.min((rows + block[1] - 1) / block[1], (long) SMS * 8));
        return new int[] {(int) g, 1, 1};
    }

    /** Column-kernel launch of reduce.cu: block (32, 16), grid = min(ceil(cols / 32), 1056). */
    static int[] colGrid(long cols) {
        long g = Math.max(1, Math.min((cols + 31) / 32, (long) SMS * 8));
        return new int[] {(int) g, 1, 1};
    }

    /** Scratch device memory of at least bytes (zero-length gets one block); free with {@link #free}. */
    long scratch(long bytes) {
        return allocator.allocate(Math.max(bytes, 1));
    }

    void free(long ptr) {
        allocator.free(ptr);
    }

    /**
     * The KilnIndexer bytes for operands sharing the logical shape {@code shape} (operand 0 = output).
     * Size-1 dims are dropped and neighbouring dims that are contiguous in every operand are merged,
     * so views of any rank whose merged rank is <= 8 are accepted; offsets are 0 (pointers are
     * already advanced to the first element).
     */
    static byte[] indexer(int[] shape, long[]... strides) {
        List<long[]> dims = collapse(shape, strides);
        if (dims.size() > MAX_DIMS) {
            throw new UnsupportedOperationException("cuda: strided kernels take at most " + MAX_DIMS
                    + " (merged) dims, got " + dims.size() + " for shape " + java.util.Arrays.toString(shape));
        }
        ByteBuffer b = ByteBuffer.allocate(INDEXER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, dims.size());
        for (int d = 0; d < dims.size(); d++) {
            long[] e = dims.get(d);
            b.putLong(8 + 8 * d, e[0]);
            for (int k = 0; k < strides.length; k++) b.putLong(8 + 8 * MAX_DIMS + 8 * (k * MAX_DIMS + d), e[1 + k]);
        }
        return b.array();
    }

    /** Dims as {extent, stride_0, stride_1, ...}, outermost first, size-1 dropped, mergeable merged. */
    private static List<long[]> collapse(int[] shape, long[][] strides) {
        List<long[]> out = new ArrayList<>();
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] == 1) continue;
            long[] e = new long[1 + strides.length];
            e[0] = shape[d];
            for (int k = 0; k < strides.length; k++) e[1 + k] = strides[k][d];
            if (!out.isEmpty() && mergeable(out.get(out.size() - 1), e)) {
                long[] prev = out.get(out.size() - 1);
                prev[0] *= e[0];
                for (int k = 1; k < e.length; k++) prev[k] = e[k];
            } else {
                out.add(e);
            }
        }
        return out;
    }

    private static boolean mergeable(long[] outer, long[] inner) {
        for (int k = 1; k < outer.length; k++) if (outer[k] != inner[k] * inner[0]) return false;
        return true;
    }
}
