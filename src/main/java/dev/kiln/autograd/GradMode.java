package dev.kiln.autograd;

/**
 * Per-thread switch for graph recording. Inside {@code try (var g = GradMode.noGrad()) {...}} ops
 * record nothing (inference, optimizer updates).
 */
public final class GradMode {
    private GradMode() {}

    private static final ThreadLocal<boolean[]> ENABLED = ThreadLocal.withInitial(() -> new boolean[]{true});

    public static boolean isEnabled() { return ENABLED.get()[0]; }

    /** A scope in which no graph is recorded; restores the previous mode on close. */
    public static Guard noGrad() { return set(false); }

    /** A scope in which the graph is recorded (inside a noGrad block). */
    public static Guard enableGrad() { return set(true); }

    private static Guard set(boolean on) {
        boolean[] cell = ENABLED.get();
        boolean prev = cell[0];
        cell[0] = on;
        return () -> cell[0] = prev;
    }

    /** Restores the previous grad mode. */
    public interface Guard extends AutoCloseable {
        @Override void close();
    }
}
