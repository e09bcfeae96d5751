package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;

import dev.kiln.compress.sparse.CsrMatrix;
import dev.kiln.compress.sparse.Sparse24Matrix;
import dev.kiln.compress.sparse.SparseMatrix;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Sparse x dense on the GPU with Kiln's own kernels ({@code kernels/sparse.cu}):
 * {@code kiln_spmm_csr_f32}, {@code kiln_spmv_csr_f32} (batch 1) and {@code kiln_spmm_24_f32}, in
 * the Linear layout of {@link dev.kiln.compress.sparse.SparseMatmul}: Y [batch x N] = X [batch x K]
 * W^T, computed as Y^T = W X^T with X^T/Y^T row-major on the device. A {@link Uploaded} weight stays
 * on the device; {@link #linear} uploads X, launches, waits and downloads Y (host arrays in and out,
 * so it can be checked against the CPU kernels and timed against {@link CusparseSpmm}).
 * GPU host only (compile-only elsewhere); requires {@link CudaAvailability#isAvailable()}.
 */
public final class CudaSparse implements AutoCloseable {
    private final int device;
    private final CudaDeviceMemory mem;
    private final KernelModule module;
    private final CudaStream stream;

    public CudaSparse(int device) {
        if (!CudaAvailability.isAvailable()) throw new IllegalStateException(CudaAvailability.reason());
        this.device = device;
        this.mem = new CudaDeviceMemory(device);
        this.module = KernelModule.load("sparse", device);
        this.stream = CudaStream.create(true);
    }

    CudaDeviceMemory memory() { return mem; }
    CudaStream stream() { return stream; }

    /** A CSR or 2:4 weight copied to the device (device addresses of its arrays). */
    public final class Uploaded implements AutoCloseable {
        final SparseMatrix host;
        final long a, b, c;     // CSR: rowPtr, colIdx, values; 2:4: values, meta, 0

        Uploaded(SparseMatrix w) {
            host = w;
            if (w instanceof CsrMatrix m) {
                a = upload(m.rowPtr());
                b = upload(m.colIdx());
                c = upload(m.values());
            } else if (w instanceof Sparse24Matrix m) {
                a = upload(m.values());
                b = upload(m.meta());
                c = 0;
            } else {
                throw new UnsupportedOperationException("cuda sparse: " + w.format() + " has no GPU kernel yet (csr and 2:4 do)");
            }
        }

        @Override public void close() {
            for (long p : new long[]{a, b, c}) if (p != 0) mem.free(p);
        }
    }

    public Uploaded upload(SparseMatrix w) { return new Uploaded(w); }

    /** Y [batch x N] = X [batch x K] W^T on the device; blocks until done. */
    public float[] linear(float[] x, int batch, Uploaded w) {
        int n = w.host.rows(), k = w.host.cols();
        long dx = upload(batch == 1 ? x : transpose(x, batch, k));
        long dy = mem.malloc(4L * Math.max(1, (long) batch * n));
        try {
            launch(w, dx, dy, batch);
            stream.synchronize();
            float[] yT = download(dy, batch * n);
            return batch == 1 ? yT : transpose(yT, n, batch);
        } finally {
            mem.free(dx);
            mem.free(dy);
        }
    }

    /** Queues the kernel for device X^T (or x when batch == 1) into device Y^T (or y); no sync. */
    void launch(Uploaded w, long dxT, long dyT, int batch) {
        long rows = w.host.rows();
        int[] grid = {(int) Math.max(1, (rows + 7) / 8), 1, 1}, block = {32, 8, 1};
        try (KernelArgs args = new KernelArgs()) {
            String kernel;
            if (w.host instanceof CsrMatrix) {
                args.ptr(w.a).ptr(w.b).ptr(w.c).ptr(dxT).ptr(dyT).i64(rows);
                if (batch == 1) kernel = "kiln_spmv_csr_f32";
                else { args.i64(batch); kernel = "kiln_spmm_csr_f32"; }
            } else {
                args.ptr(w.a).ptr(w.b).ptr(dxT).ptr(dyT).i64(rows).i64(w.host.cols()).i64(batch);
                kernel = "kiln_spmm_24_f32";
            }
            module.launch(kernel, grid, block, 0, stream, args);
        }
    }

    long upload(float[] v) {
        long d = mem.malloc(4L * Math.max(1, v.length));
        try (FloatPointer h = new FloatPointer(v)) {
            copyIn(d, h, 4L * v.length);
        }
        return d;
    }

    long upload(int[] v) {
        long d = mem.malloc(4L * Math.max(1, v.length));
        try (IntPointer h = new IntPointer(v)) {
            copyIn(d, h, 4L * v.length);
        }
        return d;
    }

    /**
     * Host -> device on the kernels' stream, then waits: the stream is non-blocking, so a plain
     * cudaMemcpy (legacy stream) would not be ordered with the kernels queued there.
     */
    private void copyIn(long d, Pointer h, long bytes) {
        if (bytes == 0) return;
        CudaContext.makeCurrent(device);
        check(cudart.cudaMemcpyAsync(DevicePointers.at(d), h, bytes, cudart.cudaMemcpyHostToDevice, stream.handle()),
                "cudaMemcpyAsync H2D " + bytes + " bytes");
        stream.synchronize();
    }

    /** Device -> host on the kernels' stream (after the work queued there), then waits. */
    float[] download(long d, int count) {
        float[] out = new float[count];
        if (count == 0) return out;
        try (FloatPointer h = new FloatPointer(count)) {
            CudaContext.makeCurrent(device);
            check(cudart.cudaMemcpyAsync(h, DevicePointers.at(d), 4L * count, cudart.cudaMemcpyDeviceToHost, stream.handle()),
                    "cudaMemcpyAsync D2H " + 4L * count + " bytes");
            stream.synchronize();
            h.get(out);
        }
        return out;
    }

    /** a [r x c] row-major into [c x r]. */
    static float[] transpose(float[] a, int r, int c) {
        float[] t = new float[a.length];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) t[j * r + i] = a[i * c + j];
        return t;
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
