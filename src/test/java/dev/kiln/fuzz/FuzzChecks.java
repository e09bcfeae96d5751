package dev.kiln.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * The contract every fuzz target checks: for any input a reader either succeeds or fails with one
 * of its own documented exception types carrying a clear message (non-blank, one line, naming the
 * file). Anything else escapes to Jazzer as a finding: an OutOfMemoryError or StackOverflowError,
 * or a stray RuntimeException such as ArrayIndexOutOfBounds, NegativeArraySize, NullPointer,
 * ClassCast or NumberFormat.
 * <p>
 * Allowed types match exactly, except Kiln's own exception classes, whose subclasses are allowed
 * too: so an allowed IllegalArgumentException does not let its subclass NumberFormatException pass.
 */
public final class FuzzChecks {
    private FuzzChecks() {}

    /** The reader call under test. */
    @FunctionalInterface
    public interface Body {
        void run() throws Exception;
    }

    /** Regression mode: the most one input may take (fuzzing mode uses libFuzzer's -timeout instead). */
    static final Duration REGRESSION_TIMEOUT = Duration.ofSeconds(10);

    private static final boolean FUZZING = System.getenv("JAZZER_FUZZ") != null && !System.getenv("JAZZER_FUZZ").isEmpty();

    /**
     * Runs body; returns when it succeeds or fails cleanly, else rethrows what escaped (an
     * unclear message becomes an AssertionError with the exception as its cause). In regression
     * mode an input that runs past {@link #REGRESSION_TIMEOUT} fails the test (a hang).
     *
     * @param name the file name the reader was given: a clean error's message must contain it
     */
    @SafeVarargs
    public static void expectCleanOutcome(String name, Body body, Class<? extends Throwable>... allowed) throws Exception {
        if (FUZZING) {
            check(name, body, allowed);
        } else {
            assertTimeoutPreemptively(REGRESSION_TIMEOUT, () -> { check(name, body, allowed); return null; },
                    () -> "the reader hung on this input (more than " + REGRESSION_TIMEOUT.toSeconds() + " s)");
        }
    }

    @SafeVarargs
    private static void check(String name, Body body, Class<? extends Throwable>... allowed) throws Exception {
        try {
            body.run();
        } catch (Exception e) {
            if (!isAllowed(e, List.of(allowed))) throw e;
            String m = e.getMessage();
            if (m == null || m.isBlank() || m.contains("\n") || !m.contains(name))
                throw new AssertionError("unclear error message from " + e.getClass().getSimpleName() + ": " + m, e);
        }
    }

    private static boolean isAllowed(Throwable t, List<Class<? extends Throwable>> allowed) {
        for (Class<? extends Throwable> c : allowed) {
            if (t.getClass() == c) return true;
            if (c.getName().startsWith("dev.kiln.") && c.isInstance(t)) return true;
        }
        return false;
    }

    /** A committed fuzzer finding (or seed) of a test class: its resource {@code <Class>Inputs/<path>}. */
    public static byte[] finding(Class<?> test, String path) throws IOException {
        try (java.io.InputStream in = test.getResourceAsStream(test.getSimpleName() + "Inputs/" + path)) {
            if (in == null) throw new java.io.FileNotFoundException(test.getSimpleName() + "Inputs/" + path);
            return in.readAllBytes();
        }
    }

    private static Path scratch;

    /**
     * A scratch directory for targets whose reader takes a path (zip archives, safetensors, npz,
     * ONNX external data); deleted when the JVM exits.
     */
    public static synchronized Path scratchDir() {
        if (scratch != null) return scratch;
        try {
            scratch = Files.createTempDirectory("kiln-fuzz");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path dir = scratch;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
        return scratch;
    }

    /** Writes data to a file of that name in the scratch directory and returns its path. */
    public static Path write(String fileName, byte[] data) {
        try {
            return Files.write(scratchDir().resolve(fileName), data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort at exit
        }
    }
}
