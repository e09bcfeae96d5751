package dev.kiln.backend.cuda;

import dev.kiln.compress.sparse.CsrMatrix;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The cuSPARSE peer for {@link CudaSparse}: CSR SpMM (generic API, {@code cusparseSpMM}) with
 * row-major dense operands, Y^T [N x batch] = W [N x K] X^T [K x batch], f32, CUSPARSE_SPMM_ALG_DEFAULT.
 *
 * <p>The JavaCPP cuda presets (1.5.14) bind only the {@code Const} descriptor constructors and not
 * {@code cusparseSpMM} / {@code cusparseSpMM_bufferSize}, so this class calls libcusparse directly
 * through the FFM API ({@code java.lang.foreign} downcalls; handles and descriptors are opaque
 * pointers). The library is {@code -Dkiln.cusparse.lib=PATH}, else the first of
 * libcusparse.so.12 / .so.13 / .so found by the dynamic loader. Enum values are those of
 * cusparse.h (CUDA 12/13). GPU host only.
 */
public final class CusparseSpmm implements AutoCloseable {
    private static final int INDEX_32I = 2, INDEX_BASE_ZERO = 0, R_32F = 0, ORDER_ROW = 2, OP_N = 0, ALG_DEFAULT = 0;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;
    private static final java.lang.foreign.AddressLayout PTR = ValueLayout.ADDRESS;

    private final Arena arena = Arena.ofConfined();
    private final CudaSparse gpu;
    private final MethodHandle create, destroy, setStream, createCsr, createDnMat, destroySpMat, destroyDnMat, bufferSize, spmm;
    private final MemorySegment handle;

    /**
     * Opens libcusparse and creates a handle on {@code gpu}'s stream. A missing library or symbol
     * throws IllegalStateException (the peer is optional: callers skip it and say why).
     */
    public CusparseSpmm(CudaSparse gpu) {
        this.gpu = gpu;
        try {
            SymbolLookup lib = library(arena);
            Linker l = Linker.nativeLinker();
            create = l.downcallHandle(find(lib, "cusparseCreate"), FunctionDescriptor.of(I32, PTR));
            destroy = l.downcallHandle(find(lib, "cusparseDestroy"), FunctionDescriptor.of(I32, PTR));
            setStream = l.downcallHandle(find(lib, "cusparseSetStream"), FunctionDescriptor.of(I32, PTR, PTR));
            createCsr = l.downcallHandle(find(lib, "cusparseCreateCsr"),
                    FunctionDescriptor.of(I32, PTR, I64, I64, I64, PTR, PTR, PTR, I32, I32, I32, I32));
            createDnMat = l.downcallHandle(find(lib, "cusparseCreateDnMat"), FunctionDescriptor.of(I32, PTR, I64, I64, I64, PTR, I32, I32));
            destroySpMat = l.downcallHandle(find(lib, "cusparseDestroySpMat"), FunctionDescriptor.of(I32, PTR));
            destroyDnMat = l.downcallHandle(find(lib, "cusparseDestroyDnMat"), FunctionDescriptor.of(I32, PTR));
            bufferSize = l.downcallHandle(find(lib, "cusparseSpMM_bufferSize"),
                    FunctionDescriptor.of(I32, PTR, I32, I32, PTR, PTR, PTR, PTR, PTR, I32, I32, PTR));
            spmm = l.downcallHandle(find(lib, "cusparseSpMM"),
                    FunctionDescriptor.of(I32, PTR, I32, I32, PTR, PTR, PTR, PTR, PTR, I32, I32, PTR));
            MemorySegment h = arena.allocate(PTR);
            status(call(create, h), "cusparseCreate");
            handle = h.get(PTR, 0);
            long stream = gpu.stream().handle() == null ? 0 : gpu.stream().handle().address();
            status(call(setStream, handle, MemorySegment.ofAddress(stream)), "cusparseSetStream");
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** libcusparse: -Dkiln.cusparse.lib, else the dynamic loader's; IllegalStateException naming what is missing. */
    static SymbolLookup library(Arena arena) {
        String forced = System.getProperty("kiln.cusparse.lib");
        if (forced != null) {
            try {
                return SymbolLookup.libraryLookup(java.nio.file.Path.of(forced), arena);
            } catch (IllegalArgumentException e) {
                throw new IllegalStateException("cusparse: cannot load -Dkiln.cusparse.lib=" + forced + " (" + e.getMessage() + ")", e);
            }
        }
        IllegalArgumentException last = null;
        for (String name : new String[]{"libcusparse.so.12", "libcusparse.so.13", "libcusparse.so"}) {
            try {
                return SymbolLookup.libraryLookup(name, arena);
            } catch (IllegalArgumentException e) {
                last = e;
            }
        }
        throw new IllegalStateException("cusparse: libcusparse not found (set -Dkiln.cusparse.lib or LD_LIBRARY_PATH)", last);
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException("cusparse: symbol " + name + " not found"));
    }

    /** Y [batch x N] = X [batch x K] W^T with cuSPARSE, for a weight uploaded by {@link CudaSparse#upload}. */
    public float[] linear(float[] x, int batch, CudaSparse.Uploaded w) {
        if (!(w.host instanceof CsrMatrix csr)) throw new IllegalArgumentException("cusparse: the peer takes CSR weights");
        int n = csr.rows(), k = csr.cols();
        long dx = gpu.upload(CudaSparse.transpose(x, batch, k));
        long dy = gpu.memory().malloc(4L * Math.max(1, (long) n * batch));
        try {
            run(csr, w, dx, dy, batch);
            gpu.stream().synchronize();
            return CudaSparse.transpose(gpu.download(dy, n * batch), n, batch);
        } finally {
            gpu.memory().free(dx);
            gpu.memory().free(dy);
        }
    }

    /** Queues cusparseSpMM for device X^T into device Y^T (buffer allocated and freed here). */
    void run(CsrMatrix csr, CudaSparse.Uploaded w, long dxT, long dyT, int batch) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment matA = a.allocate(PTR), matB = a.allocate(PTR), matC = a.allocate(PTR), size = a.allocate(I64);
            MemorySegment alpha = a.allocateFrom(ValueLayout.JAVA_FLOAT, 1f), beta = a.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
            status(call(createCsr, matA, (long) csr.rows(), (long) csr.cols(), (long) csr.values().length,
                    addr(w.a), addr(w.b), addr(w.c), INDEX_32I, INDEX_32I, INDEX_BASE_ZERO, R_32F), "cusparseCreateCsr");
            status(call(createDnMat, matB, (long) csr.cols(), (long) batch, (long) batch, addr(dxT), R_32F, ORDER_ROW), "cusparseCreateDnMat(B)");
            status(call(createDnMat, matC, (long) csr.rows(), (long) batch, (long) batch, addr(dyT), R_32F, ORDER_ROW), "cusparseCreateDnMat(C)");
            MemorySegment A = matA.get(PTR, 0), B = matB.get(PTR, 0), C = matC.get(PTR, 0);
            status(call(bufferSize, handle, OP_N, OP_N, alpha, A, B, beta, C, R_32F, ALG_DEFAULT, size), "cusparseSpMM_bufferSize");
            long bytes = size.get(I64, 0);
            long buf = bytes > 0 ? gpu.memory().malloc(bytes) : 0;
            try {
                status(call(spmm, handle, OP_N, OP_N, alpha, A, B, beta, C, R_32F, ALG_DEFAULT, addr(buf)), "cusparseSpMM");
                gpu.stream().synchronize();
            } finally {
                if (buf != 0) gpu.memory().free(buf);
                int s1 = call(destroySpMat, A), s2 = call(destroyDnMat, B), s3 = call(destroyDnMat, C);
                status(s1 != 0 ? s1 : s2 != 0 ? s2 : s3, "cusparseDestroySpMat/DnMat");
            }
        }
    }

    private static MemorySegment addr(long p) { return MemorySegment.ofAddress(p); }

    private static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new IllegalStateException("cusparse: downcall failed: " + t, t);
        }
    }

    private static void status(int s, String what) {
        if (s != 0) throw new CudaException(what + " failed: cuSPARSE status " + s, s);
    }

    @Override
    public void close() {
        try {
            status(call(destroy, handle), "cusparseDestroy");
        } finally {
            arena.close();
        }
    }
}
