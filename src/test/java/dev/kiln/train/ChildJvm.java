package dev.kiln.train;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A child JVM running a test-class main with the test JVM's java and class path (flags kept minimal
 * for a fast start), its stdout and stderr merged into a temporary file that the parent reads line
 * by line. A file, not a pipe: after a SIGKILL every byte the child wrote is in the file, whereas
 * the JDK drains a dead child's pipe on its reaper thread, racing a reader thread, and lines could
 * be lost (a crash test once saw the file's version two ahead of the last line it read). Always
 * close it: close kills the process (SIGKILL) if it still runs and deletes the file.
 */
public final class ChildJvm implements AutoCloseable {
    private final Process process;
    private final Path log;
    private final FileChannel in;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16);
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private final ArrayDeque<String> lines = new ArrayDeque<>();
    private final List<String> seen = new ArrayList<>();

    public ChildJvm(Class<?> main, List<String> jvmFlags, String... args) throws IOException {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "-Xshare:auto", "-XX:+UseSerialGC", "-Xmx256m",
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        cmd.addAll(List.of(args));
        log = Files.createTempFile("kiln-child-", ".log");
        process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        in = FileChannel.open(log, StandardOpenOption.READ);
    }

    /** Moves the complete lines written so far into the queue; once the child is dead, also its last unterminated line. */
    private void readNew(boolean dead) {
        try {
            for (int n; (n = in.read(buf.clear())) > 0; ) {
                for (int i = 0; i < n; i++) {
                    byte b = buf.get(i);
                    if (b == '\n') {
                        lines.add(partial.toString(StandardCharsets.UTF_8));
                        partial.reset();
                    } else {
                        partial.write(b);
                    }
                }
            }
            if (dead && partial.size() > 0) {
                lines.add(partial.toString(StandardCharsets.UTF_8));
                partial.reset();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("child output " + log, e);
        }
    }

    /** The next line starting with prefix (others are kept for error messages); fails after timeoutMs or at exit. */
    public String await(String prefix, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            if (lines.isEmpty()) {
                boolean dead = !process.isAlive();   // checked before reading: a dead child's file is complete
                readNew(dead);
                if (lines.isEmpty()) {
                    if (dead) throw new AssertionError("child exited (exit " + process.exitValue() + ") before a '" + prefix + "' line; output: " + seen);
                    if (System.nanoTime() > deadline) throw new AssertionError("child: no '" + prefix + "' line within " + timeoutMs + " ms; output: " + seen);
                    Thread.sleep(1);
                    continue;
                }
            }
            String l = lines.poll();
            seen.add(l);
            if (l.startsWith(prefix)) return l;
        }
    }

    /** Kills the child with SIGKILL, waits for it, and returns every line it printed after the last await. */
    public List<String> kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
        readNew(true);
        List<String> rest = new ArrayList<>(lines);
        lines.clear();
        seen.addAll(rest);
        return rest;
    }

    /** Waits for a normal exit and returns the exit code. */
    public int waitFor(long timeoutMs) throws InterruptedException {
        if (!process.waitFor(timeoutMs, TimeUnit.MILLISECONDS)) throw new AssertionError("child still running after " + timeoutMs + " ms; output: " + seen);
        return process.exitValue();
    }

    public long pid() { return process.pid(); }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            in.close();
            Files.deleteIfExists(log);
        } catch (IOException ignored) {
            // a temporary file; the OS cleans /tmp
        }
    }
}
