package dev.kiln.backend;

import dev.kiln.backend.cpu.CpuBackend;
import dev.kiln.backend.cuda.CudaAvailability;
import dev.kiln.backend.cuda.CudaBackend;

/**
 * Registry of backends: {@link #get} finds them by name through {@link java.util.ServiceLoader}
 * ({@link BackendProvider}; Kiln's own are "cpu" and "cuda", and a backend in another jar or module
 * registers the same way). {@link #cpu} and {@link #cuda} are the shortcuts for Kiln's own.
 */
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
     * Marks a burst of many small ops (a model graph's run, a generation loop) until the returned
     * scope is closed: the CPU backend's idle worker threads stay awake through it instead of
     * parking between ops (see {@code backend.cpu.Parallel}). Scopes nest; close is idempotent.
     */
    public static Burst burst() { return dev.kiln.backend.cpu.Parallel.burst()::close; }

    /** An open {@link #burst}. */
    @FunctionalInterface
    public interface Burst extends AutoCloseable {
        @Override void close();
    }

    /** Every registered provider, in ServiceLoader order (available or not). */
    public static java.util.List<BackendProvider> providers() {
        java.util.List<BackendProvider> out = new java.util.ArrayList<>();
        // Kiln's class loader: named modules' provides clauses and class-path META-INF/services entries alike
        java.util.ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader()).forEach(out::add);
        return out;
    }

    /** The names of the backends that can run here ("cpu", and "cuda" with a GPU). */
    public static java.util.List<String> available() {
        return providers().stream().filter(BackendProvider::isAvailable).map(BackendProvider::name).distinct().toList();
    }

    /**
     * The backend called name on device (0: the first); one-line errors for a name no provider has
     * (naming those that exist) and for a backend that cannot run here (with its reason).
     */
    public static Backend get(String name, int device) {
        java.util.List<BackendProvider> ps = providers();
        for (BackendProvider p : ps) {
            if (!p.name().equals(name)) continue;
            if (!p.isAvailable()) throw new IllegalStateException("kiln: backend " + name + " is not available here: " + p.unavailableReason());
            return p.open(device);
        }
        throw new IllegalArgumentException("kiln: no backend named " + name + " (registered: "
                + String.join(", ", ps.stream().map(BackendProvider::name).distinct().toList()) + ")");
    }

    /**
     * The CUDA backend on device 0. Throws IllegalStateException with the reason when CUDA is not
     * usable here (no natives, no driver, no device, or disabled by -Dkiln.cuda.disable=true).
     */
    public static Backend cuda() {
        if (!CudaAvailability.isAvailable()) throw new IllegalStateException(CudaAvailability.reason());
        return CudaBackend.of(0);
    }
}
