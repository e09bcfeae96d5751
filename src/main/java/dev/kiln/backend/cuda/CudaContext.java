package dev.kiln.backend.cuda;

import java.util.Arrays;
import java.util.Locale;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.PointerPointer;

/**
 * The one place where Kiln's own kernels are launched, and where a device is made current.
 *
 * <p>The driver API ({@code cuLaunchKernel}) works on the calling thread's current context; a thread
 * that never touched the device has none and fails with CUDA_ERROR_INVALID_CONTEXT. So
 * {@link #makeCurrent} ({@code cudaSetDevice}, which makes the device's primary context, shared with
 * cudart and cuBLAS, current on the thread) runs before every launch and every copy that Kiln queues.
 *
 * <p>Debug switch {@code -Dkiln.cuda.syncLaunch=true} (or environment {@code KILN_CUDA_SYNC_LAUNCH=1}):
 * every launch is followed by a synchronization of its stream, so a kernel that faults (illegal
 * address, misaligned access, ...) is reported by the launch that caused it, naming the kernel, its
 * grid and block, instead of at some later unrelated call. Slow; for debugging and for
 * {@code tools/gpu-check}'s correctness runs (with {@code CUDA_LAUNCH_BLOCKING=1}).
 *
 * <p>The CUDA calls go through a {@link Driver}, so that the order of calls and the error messages
 * can be tested without a GPU.
 */
final class CudaContext {
    /** The CUDA calls a launch makes; return values are cudaError_t (runtime) or CUresult (driver). */
    interface Driver {
        int setDevice(int device);

        int launch(CUfunc_st f, int[] grid, int[] block, int sharedBytes, CUstream_st stream, PointerPointer<?> args);

        int synchronize(CUstream_st stream);

        /** Name and text of a runtime (cudaError_t) or driver (CUresult) error code. */
        String describe(int code, boolean driverApi);
    }

    /** The real CUDA driver and runtime (JavaCPP bindings). */
    static final Driver CUDA = new Driver() {
        @Override public int setDevice(int device) { return cudart.cudaSetDevice(device); }

        @Override public int launch(CUfunc_st f, int[] g, int[] b, int shared, CUstream_st stream, PointerPointer<?> args) {
            return cudart.cuLaunchKernel(f, g[0], g[1], g[2], b[0], b[1], b[2], shared, stream, args, null);
        }

        @Override public int synchronize(CUstream_st stream) { return cudart.cudaStreamSynchronize(stream); }

        @Override public String describe(int code, boolean driverApi) {
            try {
                if (driverApi) CudaException.checkDriver(code, "");
                else CudaException.check(code, "");
                return "success";
            } catch (CudaException e) {
                return e.getMessage().replaceFirst("^ failed: ", "");
            }
        }
    };

    private static final CudaContext DEFAULT = new CudaContext(CUDA, syncLaunchRequested(
            System.getProperty("kiln.cuda.syncLaunch"), System.getenv("KILN_CUDA_SYNC_LAUNCH")));

    private final Driver driver;
    private final boolean syncLaunch;

    CudaContext(Driver driver, boolean syncLaunch) {
        this.driver = driver;
        this.syncLaunch = syncLaunch;
    }

    /** The context of the real CUDA driver, with the debug switch as set at start-up. */
    static CudaContext get() {
        return DEFAULT;
    }

    /** True when the property (else the environment variable) asks for synchronous launches. */
    static boolean syncLaunchRequested(String property, String env) {
        String v = property != null ? property : env;
        if (v == null) return false;
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "1", "true", "yes", "on" -> true;
            case "", "0", "false", "no", "off" -> false;
            default -> throw new IllegalArgumentException("kiln.cuda.syncLaunch / KILN_CUDA_SYNC_LAUNCH: expected true or false, got '" + v + "'");
        };
    }

    boolean syncLaunch() {
        return syncLaunch;
    }

    /** Makes {@code device}'s primary context current on the calling thread. */
    static void makeCurrent(int device) {
        DEFAULT.current(device);
    }

    void current(int device) {
        int r = driver.setDevice(device);
        if (r != 0) throw new CudaException("cudaSetDevice(" + device + ") failed: " + driver.describe(r, false), r);
    }

    /**
     * Makes {@code device} current, queues {@code kernel} (named {@code name}, e.g.
     * {@code "reduce/kiln_softmax_f32"}) and, with the debug switch, waits for it.
     */
    void launch(int device, String name, CUfunc_st kernel, int[] grid, int[] block, int sharedBytes, CudaStream stream,
                PointerPointer<?> args) {
        current(device);
        CUstream_st s = stream.handle();
        int r = driver.launch(kernel, grid, block, sharedBytes, s, args);
        if (r != 0) {
            throw new CudaException("cuLaunchKernel(" + name + where(grid, block, sharedBytes) + ") failed: " + driver.describe(r, true), r);
        }
        if (!syncLaunch) return;
        r = driver.synchronize(s);
        if (r != 0) {
            throw new CudaException("kernel " + name + where(grid, block, sharedBytes) + " failed (kiln.cuda.syncLaunch): "
                    + driver.describe(r, false), r);
        }
    }

    private static String where(int[] grid, int[] block, int sharedBytes) {
        return ", grid " + Arrays.toString(grid) + ", block " + Arrays.toString(block) + (sharedBytes > 0 ? ", " + sharedBytes + " B shared" : "");
    }
}
