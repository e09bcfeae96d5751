package dev.kiln.dist;

import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Starts N worker JVMs on this machine that run a given main class with the environment of a
 * distributed job (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, plus KILN_PARENT_PID),
 * using this JVM's java and class path and Kiln's JVM flags. Used by benchmarks and tests that
 * need real processes; a worker calls {@link #exitWithParent()} so that it never outlives the JVM
 * that started it. {@link #close()} (and a shutdown hook) kills workers that are still running.
 */
public final class WorkerProcesses implements AutoCloseable {
    /** JVM flags every worker gets (those of the ./kiln launcher). */
    public static final List<String> JVM_FLAGS = List.of("--add-modules", "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC");

    /**
     * What to run: {@code nproc} workers of {@code mainClass} with {@code args}; {@code env} is added
     * to each worker's environment; {@code jvmArgs} follow {@link #JVM_FLAGS}.
     */
    public record Spec(int nproc, String mainClass, List<String> args, Map<String, String> env, List<String> jvmArgs) {
        public Spec(int nproc, String mainClass, List<String> args) {
            this(nproc, mainClass, args, Map.of(), List.of());
        }
    }

    private final List<Process> procs;
    private final Thread hook;

    private WorkerProcesses(List<Process> procs) {
        this.procs = procs;
        this.hook = new Thread(this::destroyAll, "kiln-workers-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * Starts the workers with a free loopback port as MASTER_PORT; {@code stdout} says where each
     * rank's standard output goes (e.g. PIPE for rank 0, DISCARD for the rest); stderr is inherited.
     */
    public static WorkerProcesses start(Spec spec, IntFunction<Redirect> stdout) {
        int port = freePort();
        List<Process> procs = new ArrayList<>();
        try {
            for (int r = 0; r < spec.nproc(); r++) {
                ProcessBuilder pb = new ProcessBuilder(command(spec));
                Map<String, String> env = pb.environment();
                env.putAll(spec.env());
                env.putAll(rankEnv(r, spec.nproc(), "127.0.0.1", port));
                pb.redirectOutput(stdout.apply(r)).redirectError(Redirect.INHERIT);
                procs.add(pb.start());
            }
        } catch (IOException e) {
            procs.forEach(Process::destroyForcibly);
            throw new DistException("workers: cannot start " + spec.mainClass() + ": " + e.getMessage(), e);
        }
        return new WorkerProcesses(procs);
    }

    /** The distributed-job environment of one rank. */
    public static Map<String, String> rankEnv(int rank, int size, String masterAddr, int masterPort) {
        Map<String, String> env = new HashMap<>();
        env.put("RANK", Integer.toString(rank));
        env.put("LOCAL_RANK", Integer.toString(rank));
        env.put("WORLD_SIZE", Integer.toString(size));
        env.put("MASTER_ADDR", masterAddr);
        env.put("MASTER_PORT", Integer.toString(masterPort));
        env.put("KILN_PARENT_PID", Long.toString(ProcessHandle.current().pid()));
        return env;
    }

    /** The java command line of a worker: this JVM's java and class path, Kiln's flags, the main class. */
    public static List<String> command(Spec spec) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(JVM_FLAGS);
        cmd.addAll(spec.jvmArgs());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(spec.mainClass());
        cmd.addAll(spec.args());
        return cmd;
    }

    /** A port that was free a moment ago on loopback (the store binds it soon after). */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new DistException("workers: no free port: " + e.getMessage(), e);
        }
    }

    public Process process(int rank) { return procs.get(rank); }

    public int size() { return procs.size(); }

    /**
     * Waits until every worker has exited or one failed; a failure (non-zero exit or the timeout)
     * kills the rest and throws a DistException naming the rank.
     */
    public void awaitAll(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            boolean allDone = true;
            for (int r = 0; r < procs.size(); r++) {
                Process p = procs.get(r);
                if (p.isAlive()) {
                    allDone = false;
                } else if (p.exitValue() != 0) {
                    destroyAll();
                    throw new DistException("workers: rank " + r + " exited with code " + p.exitValue());
                }
            }
            if (allDone) return;
            if (System.nanoTime() > deadline) {
                destroyAll();
                throw new DistException("workers: not finished after " + TcpStore.seconds(timeout) + "; killed");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                destroyAll();
                throw new DistException("workers: interrupted; killed", e);
            }
        }
    }

    private void destroyAll() {
        for (Process p : procs) p.destroy();
        for (Process p : procs) {
            try {
                if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Kills workers still running. */
    @Override
    public void close() {
        destroyAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // already shutting down: the hook runs anyway
        }
    }

    /**
     * Called by a worker: halts this JVM (exit code 3) when the process named by KILN_PARENT_PID
     * ends, so workers never outlive a parent that was killed.
     */
    public static void exitWithParent() {
        String pid = System.getenv("KILN_PARENT_PID");
        if (pid == null) return;
        ProcessHandle.of(Long.parseLong(pid)).ifPresentOrElse(
                parent -> parent.onExit().thenRun(() -> Runtime.getRuntime().halt(3)),
                () -> Runtime.getRuntime().halt(3));
    }

}
