package dev.kiln.backend.cuda;

import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * A failed CUDA runtime or driver call. The message names the call and CUDA's own error name and
 * text, e.g. {@code "cudaStreamCreate failed: cudaErrorInvalidValue (invalid argument)"}.
 * Only touch {@link #check}/{@link #checkDriver} after {@link CudaAvailability#isAvailable()}.
 */
public final class CudaException extends RuntimeException {
    private final int code;

    public CudaException(String message, int code) {
        super(message);
        this.code = code;
    }

    /** The cudaError_t / CUresult value. */
    public int code() {
        return code;
    }

    /** Throws unless a runtime-API call returned cudaSuccess. */
    public static void check(int err, String call) {
        if (err == cudart.cudaSuccess) return;
        String name = cudart.cudaGetErrorName(err).getString();
        String text = cudart.cudaGetErrorString(err).getString();
        throw new CudaException(call + " failed: " + name + " (" + text + ")", err);
    }

    /** Throws unless a driver-API call returned CUDA_SUCCESS. */
    public static void checkDriver(int res, String call) {
        if (res == cudart.CUDA_SUCCESS) return;
        String n = driverString(res, true);
        String t = driverString(res, false);
        throw new CudaException(call + " failed: " + (n == null ? "CUresult " + res : n)
                + " (" + (t == null ? "unknown error" : t) + ")", res);
    }

    private static String driverString(int res, boolean name) {
        try (PointerPointer<BytePointer> out = new PointerPointer<>(1)) {
            int r = name ? cudart.cuGetErrorName(res, out) : cudart.cuGetErrorString(res, out);
            BytePointer s = out.get(BytePointer.class, 0);
            return r != cudart.CUDA_SUCCESS || s == null || s.isNull() ? null : s.getString();
        }
    }
}
