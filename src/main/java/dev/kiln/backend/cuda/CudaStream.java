package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;

/**
 * A CUDA stream (thin wrapper over cudaStream_t). {@link #create} makes a non-blocking stream that
 * does not synchronize with the legacy default stream; {@link #legacyDefault()} is stream 0.
 * Requires {@link CudaAvailability#isAvailable()}; compile-only without a GPU. A CUDA stream may be
 * used from several threads at once (the driver orders work in submission order); close is idempotent.
 */
public final class CudaStream implements AutoCloseable {
    private final CUstream_st handle; // null = the legacy default stream
    private boolean closed;

    private CudaStream(CUstream_st handle) {
        this.handle = handle;
    }

    /** A new stream; nonBlocking streams do not wait for work on the legacy default stream. */
    public static CudaStream create(boolean nonBlocking) {
        CUstream_st s = new CUstream_st();
        int flags = nonBlocking ? cudart.cudaStreamNonBlocking : cudart.cudaStreamDefault;
        check(cudart.cudaStreamCreateWithFlags(s, flags), "cudaStreamCreateWithFlags");
        return new CudaStream(s);
    }

    /** The legacy default stream (handle 0); closing it does nothing. */
    public static CudaStream legacyDefault() {
        return new CudaStream(null);
    }

    /** The raw handle for cudart/driver/cuBLAS calls (null for the legacy default stream). */
    public CUstream_st handle() {
        return handle;
    }

    /** Blocks until all work queued on this stream has finished. */
    public void synchronize() {
        check(cudart.cudaStreamSynchronize(handle), "cudaStreamSynchronize");
    }

    /** True when all queued work has finished (does not block). */
    public boolean isIdle() {
        int err = cudart.cudaStreamQuery(handle);
        if (err == cudart.cudaErrorNotReady) return false;
        check(err, "cudaStreamQuery");
        return true;
    }

    /** Makes later work on this stream wait until {@code event} has completed. */
    public void waitFor(CudaEvent event) {
        check(cudart.cudaStreamWaitEvent(handle, event.handle(), 0), "cudaStreamWaitEvent");
    }

    @Override
    public synchronized void close() {
        if (closed || handle == null) return;
        closed = true;
        check(cudart.cudaStreamDestroy(handle), "cudaStreamDestroy");
    }
}
