package dev.kiln.backend.cuda;

import static dev.kiln.backend.cuda.CudaException.check;

import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.global.cudart;

/**
 * A CUDA event (thin wrapper over cudaEvent_t): cross-stream ordering and GPU-side timing.
 * Requires {@link CudaAvailability#isAvailable()}; compile-only without a GPU.
 */
public final class CudaEvent implements AutoCloseable {
    private final CUevent_st handle;
    private boolean closed;

    private CudaEvent(CUevent_st handle) {
        this.handle = handle;
    }

    /** A new event; timing events can be used with {@link #elapsedMillisSince}. */
    public static CudaEvent create(boolean timing) {
        CUevent_st e = new CUevent_st();
        int flags = timing ? cudart.cudaEventDefault : cudart.cudaEventDisableTiming;
        check(cudart.cudaEventCreateWithFlags(e, flags), "cudaEventCreateWithFlags");
        return new CudaEvent(e);
    }

    public CUevent_st handle() {
        return handle;
    }

    /** Captures the work queued so far on {@code stream}. */
    public void record(CudaStream stream) {
        check(cudart.cudaEventRecord(handle, stream.handle()), "cudaEventRecord");
    }

    /** Blocks until the recorded work has completed. */
    public void synchronize() {
        check(cudart.cudaEventSynchronize(handle), "cudaEventSynchronize");
    }

    /** True when the recorded work has completed (does not block). */
    public boolean isDone() {
        int err = cudart.cudaEventQuery(handle);
        if (err == cudart.cudaErrorNotReady) return false;
        check(err, "cudaEventQuery");
        return true;
    }

    /** GPU time in milliseconds from {@code start} to this event (both recorded and completed). */
    public float elapsedMillisSince(CudaEvent start) {
        float[] ms = new float[1];
        check(cudart.cudaEventElapsedTime(ms, start.handle, handle), "cudaEventElapsedTime");
        return ms[0];
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        check(cudart.cudaEventDestroy(handle), "cudaEventDestroy");
    }
}
