package dev.kiln.backend.cuda;

import java.util.function.IntSupplier;

/**
 * Whether the CUDA backend can run here, probed once and cached. The probe loads the JavaCPP cudart
 * bindings and asks for the device count; every failure (javacpp or the cuda presets missing from
 * the class path, the linux-x86_64 natives jar or libcudart missing, no driver, no device) becomes a
 * one-line {@link #reason()} and never an exception. Without the natives, JavaCPP's Loader throws
 * UnsatisfiedLinkError and the cudart class is left uninitializable (later touches throw
 * NoClassDefFoundError), so nothing else in this package may touch cudart unless
 * {@link #isAvailable()} is true. {@code -Dkiln.cuda.disable=true} turns CUDA off.
 */
public final class CudaAvailability {
    /** Reason when the bindings cannot be loaded. */
    public static final String NO_RUNTIME =
            "cuda: no CUDA driver/runtime found (org.bytedeco cuda natives not on the classpath)";
    /** Reason when the natives jar is there but its JNI glue cannot be loaded (a CUDA library missing). */
    public static final String NO_CUDA_LIBS = "cuda: the JavaCPP natives are on the class path but could not be loaded: "
            + "libcuda.so.1 (the NVIDIA driver) or libcudart.so.13 is not on the loader path (LD_LIBRARY_PATH)";
    /** Reason when the bindings load but report no usable device. */
    public static final String NO_DEVICE = "cuda: driver found but no device";
    /** Reason when cudart loads but reports cudaErrorInsufficientDriver (no or too old libcuda). */
    public static final String NO_DRIVER = "cuda: CUDA runtime found but no usable driver (libcuda missing or older than the runtime)";
    /** cudaErrorInsufficientDriver. */
    static final int INSUFFICIENT_DRIVER = 35;
    /** Reason when switched off by the system property. */
    public static final String DISABLED = "cuda: disabled by -Dkiln.cuda.disable=true";

    /** Outcome of a probe: device count (0 when unavailable), reason ("" when available), detail. */
    public record Probe(int deviceCount, String reason, String detail) {
        public boolean available() {
            return deviceCount > 0;
        }
    }

    private static volatile Probe cached;

    private CudaAvailability() {}

    /** True when at least one CUDA device can be used. */
    public static boolean isAvailable() {
        return probe().available();
    }

    /** Why CUDA is unavailable, one line; empty when it is available. */
    public static String reason() {
        return probe().reason();
    }

    /** Number of usable devices (0 when unavailable). */
    public static int deviceCount() {
        return probe().deviceCount();
    }

    /** The cached probe, made on first use. */
    public static Probe probe() {
        Probe p = cached;
        if (p == null) {
            synchronized (CudaAvailability.class) {
                p = cached;
                if (p == null) cached = p = probeNow();
            }
        }
        return p;
    }

    private static Probe probeNow() {
        if (Boolean.getBoolean("kiln.cuda.disable")) return new Probe(0, DISABLED, "");
        boolean glue = CudaAvailability.class.getResource("/org/bytedeco/cuda/linux-x86_64/libjnicudart.so") != null;
        Probe p = probe(Natives::load, Natives::deviceCount);
        return glue && p.reason().equals(NO_RUNTIME) ? new Probe(0, NO_CUDA_LIBS, p.detail()) : p;
    }

    /**
     * The probe logic, with the two native steps passed in so tests can drive every branch.
     * {@code load} loads the bindings; {@code count} returns the device count, or a negative
     * cudaError_t (negated) when the call failed.
     */
    static Probe probe(Runnable load, IntSupplier count) {
        try {
            load.run();
        } catch (Throwable t) {
            return new Probe(0, NO_RUNTIME, String.valueOf(t));
        }
        int n;
        try {
            n = count.getAsInt();
        } catch (Throwable t) {
            return new Probe(0, NO_DEVICE, String.valueOf(t));
        }
        if (n == -INSUFFICIENT_DRIVER) return new Probe(0, NO_DRIVER, "cudaGetDeviceCount returned cudaErrorInsufficientDriver");
        if (n < 0) return new Probe(0, NO_DEVICE, "cudaGetDeviceCount returned error " + (-n));
        if (n == 0) return new Probe(0, NO_DEVICE, "cudaGetDeviceCount returned 0 devices");
        return new Probe(n, "", n + " device(s)");
    }

    /** The only place the probe touches the bindings; loaded lazily so a missing jar is caught. */
    private static final class Natives {
        static void load() {
            org.bytedeco.javacpp.Loader.load(org.bytedeco.cuda.global.cudart.class);
        }

        static int deviceCount() {
            int[] n = new int[1];
            int err = org.bytedeco.cuda.global.cudart.cudaGetDeviceCount(n);
            if (err != 0) {
                org.bytedeco.cuda.global.cudart.cudaGetLastError(); // clear the sticky-free error state
                return -err;
            }
            return n[0];
        }
    }
}
