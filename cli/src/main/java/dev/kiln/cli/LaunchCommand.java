package dev.kiln.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Callable;

/**
 * `kiln launch` (uses {@link dev.kiln.dist.WorkerProcesses}' JVM flags and free-port probe; it
 * supervises its workers itself for prefixed output, multi-node ranks and the failure report): starts N worker JVMs of a kiln subcommand on this node (torchrun's role). Each
 * worker gets RANK (node rank * nproc + local rank), WORLD_SIZE (nnodes * nproc), LOCAL_RANK,
 * MASTER_ADDR, MASTER_PORT and KILN_PARENT_PID, and runs with this JVM's java, JVM flags and class
 * path. Output lines of rank r are printed as "[r] line". When a worker dies (non-zero exit or a
 * signal), the others get SIGTERM, then SIGKILL after 10 s, and the launcher exits 1 with
 * "launch: rank R exited with code C (...); stopped ranks ...". Killing the launcher stops the
 * workers (a shutdown hook, and each worker watches KILN_PARENT_PID).
 */
@Command(name = "launch", mixinStandardHelpOptions = true,
        description = {"Run a kiln subcommand on N worker processes (data parallel training).",
                "Example: kiln launch --nproc 2 -- train --model mlp --epochs 1 --batch 32"})
public final class LaunchCommand implements Callable<Integer> {
    @Option(names = "--nproc", defaultValue = "1", description = "Worker processes on this node (default: ${DEFAULT-VALUE}).")
    int nproc;
    @Option(names = "--nnodes", defaultValue = "1", description = "Nodes in the job (default: ${DEFAULT-VALUE}).")
    int nnodes;
    @Option(names = "--node-rank", defaultValue = "0", description = "This node's index in [0, nnodes).")
    int nodeRank;
    @Option(names = "--master", description = "ADDR:PORT of rank 0's rendezvous store (default: 127.0.0.1 and a free port; required with --nnodes > 1).")
    String master;
    @Option(names = "--main", hidden = true, defaultValue = "dev.kiln.cli.Main", description = "Worker main class (tests).")
    String mainClass;
    @Parameters(arity = "1..*", paramLabel = "COMMAND", description = "The kiln subcommand and its arguments (after --).")
    List<String> command;

    /** Seconds between SIGTERM and SIGKILL when stopping the surviving workers. */
    static final int GRACE_SECONDS = 10;

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    private final List<Process> procs = new ArrayList<>();
    private final LinkedBlockingQueue<Integer> exited = new LinkedBlockingQueue<>();
    private PrintWriter err;

    @Override
    public Integer call() throws Exception {
        if (nproc < 1 || nnodes < 1 || nodeRank < 0 || nodeRank >= nnodes)
            throw new IllegalArgumentException("launch: need --nproc >= 1, --nnodes >= 1 and 0 <= --node-rank < --nnodes");
        if (nnodes > 1 && master == null) throw new IllegalArgumentException("launch: --master ADDR:PORT is required with --nnodes > 1");
        String addr = master == null ? "127.0.0.1" : master.substring(0, Math.max(0, master.lastIndexOf(':')));
        int port = master == null ? dev.kiln.dist.WorkerProcesses.freePort() : parsePort(master);
        PrintWriter out = spec.commandLine().getOut();
        err = spec.commandLine().getErr();
        Thread hook = new Thread(this::stop, "kiln-launch-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        List<Thread> pumps = new ArrayList<>();
        try {
            for (int local = 0; local < nproc; local++) {
                int rank = nodeRank * nproc + local;
                Process p = start(rank, local, addr, port);
                procs.add(p);
                err.println("launch: rank " + rank + " is pid " + p.pid());
                err.flush();
                pumps.add(pump(p, rank, out));
                int localIndex = local;
                p.onExit().thenRun(() -> exited.add(localIndex));
            }
            int code = supervise();
            for (Thread t : pumps) t.join(2000);
            out.flush();
            return code;
        } finally {
            stop();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // the JVM is shutting down; the hook runs anyway
            }
        }
    }

    /** Waits for the workers; on the first failure stops the rest and reports it. Returns the exit code. */
    private int supervise() throws InterruptedException {
        int done = 0;
        while (done < procs.size()) {
            int local = exited.take();
            done++;
            int code = procs.get(local).exitValue();
            if (code == 0) continue;
            List<Integer> stopped = new ArrayList<>();
            for (int i = 0; i < procs.size(); i++) if (procs.get(i).isAlive()) stopped.add(nodeRank * nproc + i);
            stop();
            err.println("launch: rank " + (nodeRank * nproc + local) + " exited with code " + code + describe(code)
                    + (stopped.isEmpty() ? "" : "; stopped ranks " + String.join(", ", stopped.stream().map(String::valueOf).toList())));
            err.flush();
            return 1;
        }
        return 0;
    }

    /** SIGTERM to every live worker, SIGKILL to those still alive after the grace period. */
    private synchronized void stop() {
        for (Process p : procs) if (p.isAlive()) p.destroy();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(GRACE_SECONDS);
        for (Process p : procs) {
            try {
                long left = deadline - System.nanoTime();
                if (p.isAlive() && (left <= 0 || !p.waitFor(left, TimeUnit.NANOSECONDS))) p.destroyForcibly();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        for (Process p : procs) {
            try {
                p.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private Process start(int rank, int localRank, String addr, int port) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(workerCommand());
        Map<String, String> env = pb.environment();
        env.put("RANK", Integer.toString(rank));
        env.put("LOCAL_RANK", Integer.toString(localRank));
        env.put("WORLD_SIZE", Integer.toString(nnodes * nproc));
        env.put("MASTER_ADDR", addr);
        env.put("MASTER_PORT", Integer.toString(port));
        env.put("KILN_PARENT_PID", Long.toString(ProcessHandle.current().pid()));
        pb.redirectErrorStream(true);
        return pb.start();
    }

    /**
     * This JVM's java with Kiln's JVM flags, KILN_JAVA_OPTS, this JVM's kiln.* system properties, its
     * class path and module path, then the main class and the command.
     */
    List<String> workerCommand() {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(dev.kiln.dist.WorkerProcesses.JVM_FLAGS);
        String opts = System.getenv("KILN_JAVA_OPTS");
        if (opts != null && !opts.isBlank()) cmd.addAll(List.of(opts.trim().split("\\s+")));
        for (String k : System.getProperties().stringPropertyNames())
            if (k.startsWith("kiln.")) cmd.add("-D" + k + "=" + System.getProperty(k));
        String mp = System.getProperty("jdk.module.path");
        if (mp != null && !mp.isEmpty()) cmd.addAll(List.of("--module-path", mp));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(command);
        return cmd;
    }

    /** Copies a worker's output lines to out, prefixed with its rank. */
    private static Thread pump(Process p, int rank, PrintWriter out) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.equals("WARNING: Using incubator modules: jdk.incubator.vector")) continue;
                    synchronized (out) {
                        out.println("[" + rank + "] " + line);
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // the worker is gone
            }
        }, "kiln-launch-out-" + rank);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** " (killed by SIGKILL)" for codes 128 + signal. */
    static String describe(int code) {
        if (code <= 128 || code > 128 + 64) return "";
        int sig = code - 128;
        String name = switch (sig) {
            case 1 -> "SIGHUP";
            case 2 -> "SIGINT";
            case 6 -> "SIGABRT";
            case 9 -> "SIGKILL";
            case 11 -> "SIGSEGV";
            case 15 -> "SIGTERM";
            default -> "signal " + sig;
        };
        return " (killed by " + name + ")";
    }

    private static int parsePort(String master) {
        int colon = master.lastIndexOf(':');
        try {
            int port = Integer.parseInt(master.substring(colon + 1));
            if (colon <= 0 || port < 1 || port > 65535) throw new NumberFormatException();
            return port;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("launch: --master must be ADDR:PORT, got '" + master + "'");
        }
    }
}
