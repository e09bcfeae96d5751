package dev.kiln.train;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A child JVM running a test-class main with the test JVM's java and class path (flags kept minimal
 * for a fast start), its stdout and stderr merged and read line by line on a daemon thread. Always
 * close it: close kills the process (SIGKILL) if it still runs, so no test leaves children behind.
 */
public final class ChildJvm implements AutoCloseable {
    private static final String EOF = "\u0000eof";
    private final Process process;
    private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<String> seen = new ArrayList<>();

    public ChildJvm(Class<?> main, List<String> jvmFlags, String... args) throws IOException {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "-Xshare:auto", "-XX:+UseSerialGC", "-Xmx256m",
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        cmd.addAll(List.of(args));
        process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Thread reader = new Thread(this::pump, "child-jvm-reader");
        reader.setDaemon(true);
        reader.start();
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String l; (l = r.readLine()) != null; ) lines.add(l);
        } catch (IOException ignored) {
            // the process was killed; what was read is in the queue
        } finally {
            lines.add(EOF);
        }
    }

    /** The next line starting with prefix (others are kept for error messages); fails after timeoutMs or at exit. */
    public String await(String prefix, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            String l = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (l == null) throw new AssertionError("child: no '" + prefix + "' line within " + timeoutMs + " ms; output: " + seen);
            if (l.equals(EOF)) throw new AssertionError("child exited (" + exitCode() + ") before a '" + prefix + "' line; output: " + seen);
            seen.add(l);
            if (l.startsWith(prefix)) return l;
        }
    }

    /** Kills the child with SIGKILL, waits for it, and returns every line it printed after the last await. */
    public List<String> kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
        List<String> rest = new ArrayList<>();
        for (String l; !(l = lines.take()).equals(EOF); ) {
            rest.add(l);
            seen.add(l);
        }
        return rest;
    }

    /** Waits for a normal exit and returns the exit code. */
    public int waitFor(long timeoutMs) throws InterruptedException {
        if (!process.waitFor(timeoutMs, TimeUnit.MILLISECONDS)) throw new AssertionError("child still running after " + timeoutMs + " ms; output: " + seen);
        return process.exitValue();
    }

    public long pid() { return process.pid(); }

    private String exitCode() {
        return process.isAlive() ? "running" : "exit " + process.exitValue();
    }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
