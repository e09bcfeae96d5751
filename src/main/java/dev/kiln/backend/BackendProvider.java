package dev.kiln.backend;

/**
 * A backend as {@link Backends} finds it: through {@link java.util.ServiceLoader}, so a backend
 * in another jar (or module) is found without Kiln knowing it. Kiln's own: "cpu" (always
 * available) and "cuda" (when its natives, driver and a device are there). Register one with
 * {@code provides dev.kiln.backend.BackendProvider with ...} in module-info, or a
 * {@code META-INF/services/dev.kiln.backend.BackendProvider} line on the class path.
 */
public interface BackendProvider {
    /** The name {@link Backends#get} looks up ("cpu", "cuda", ...). */
    String name();

    /** Whether the backend can run here. */
    boolean isAvailable();

    /** Why not, when {@link #isAvailable} is false (one line). */
    String unavailableReason();

    /** The backend on device (0 for hosts with one); only when {@link #isAvailable}. */
    Backend open(int device);
}
