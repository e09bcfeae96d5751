package dev.kiln.backend;

import dev.kiln.backend.cpu.CpuBackend;
import dev.kiln.backend.cuda.CudaAvailability;
import dev.kiln.backend.cuda.CudaBackend;

/** Registry of backends. The CPU backend is always present; others register when their runtime loads. */
public final class Backends {
    private Backends() {}

    /** The message when the Vector API module is missing (checked once, before the CPU backend exists). */
    public static final String NO_VECTOR_API = "Kiln needs the Vector API: start java with --add-modules jdk.incubator.vector"
            + " --enable-native-access=ALL-UNNAMED (Maven Surefire/Failsafe: put both in <argLine>; on the module path"
            + " 'requires dev.kiln;' brings the Vector API, add --enable-native-access=dev.kiln)";

    static { requireVectorApi(); }

    private static final Backend CPU = new CpuBackend();

    /**
     * Fails with {@link #NO_VECTOR_API} when the incubator module is not in the JVM. Every tensor
     * is made through this class, so the first Kiln call says what is missing, instead of a
     * NoClassDefFoundError for FloatVector from whichever kernel runs first.
     */
    private static void requireVectorApi() {
        try {
            Class.forName("jdk.incubator.vector.FloatVector", false, Backends.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw new IllegalStateException(NO_VECTOR_API);
        }
    }

    public static Backend cpu() { return CPU; }

    /**
     * The CUDA backend on device 0. Throws IllegalStateException with the reason when CUDA is not
     * usable here (no natives, no driver, no device, or disabled by -Dkiln.cuda.disable=true).
     */
    public static Backend cuda() {
        if (!CudaAvailability.isAvailable()) throw new IllegalStateException(CudaAvailability.reason());
        return CudaBackend.of(0);
    }
}
