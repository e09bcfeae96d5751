package dev.kiln.cli;

import dev.kiln.dist.ProcessGroup;
import dev.kiln.dist.ProcessGroup.ReduceOp;
import dev.kiln.dist.ProcessGroups;
import dev.kiln.dist.WorkerProcesses;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.ProcessBuilder.Redirect;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kiln bench allreduce}: all-reduce SUM bandwidth of the CPU (TCP ring) backend between
 * worker processes on this machine, float32 buffers from 1 KB to 256 MB (factor 4).
 * <ul>
 *   <li>Each size: warm-up, then repeats of barrier + all-reduce; rank 0 times each all-reduce
 *       and the median is reported (repeats: 64 MB / size, between 5 and 200).</li>
 *   <li>algbw = bytes / time; busbw = algbw * 2(n-1)/n, the bytes each rank's link carries per
 *       second, comparable across rank counts and with nccl-tests' numbers.</li>
 * </ul>
 * The workers are separate JVMs ({@link WorkerProcesses}) that rendezvous through the TcpStore on
 * a free loopback port; rank 0 prints one result line per size, which this command reads. With
 * {@code --backend mpi} the same workers run under Open MPI's {@code mpirun -np N} on the MPI
 * backend (shared memory between the ranks of one machine).
 */
@Command(name = "allreduce", mixinStandardHelpOptions = true,
        description = {"CPU ring all-reduce (SUM, float32) bandwidth between worker processes on loopback, 1 KB to 256 MB.",
                "Reports the median time, algbw = bytes/time and busbw = algbw*2(n-1)/n in GB/s."})
public final class BenchAllreduce implements Callable<Integer> {
    @Option(names = "--nproc", defaultValue = "2", description = "Worker processes (default: ${DEFAULT-VALUE}).")
    int nproc;

    @Option(names = "--min-bytes", defaultValue = "1024", description = "Smallest buffer in bytes (default: ${DEFAULT-VALUE}).")
    long minBytes;

    @Option(names = "--max-bytes", defaultValue = "268435456", description = "Largest buffer in bytes (default: ${DEFAULT-VALUE}).")
    long maxBytes;

    @Option(names = "--factor", defaultValue = "4", description = "Size step factor (default: ${DEFAULT-VALUE}).")
    int factor;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the rows as JSON to FILE.")
    Path json;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu (TCP ring, default) or mpi (workers started by mpirun).")
    String backend;

    @picocli.CommandLine.Mixin PlotOption plot;

    @Spec private CommandSpec spec;

    /** One measured size. */
    record Row(long bytes, int repeats, double medianS) {
        double algbw() { return bytes / medianS / 1e9; }
        double busbw(int n) { return algbw() * 2.0 * (n - 1) / n; }
    }

    @Override
    public Integer call() throws Exception {
        if (nproc < 2) throw new IllegalArgumentException("bench allreduce: --nproc must be >= 2, got " + nproc);
        if (!backend.equals("cpu") && !backend.equals("mpi")) throw new IllegalArgumentException("bench allreduce: --backend must be cpu or mpi, got " + backend);
        if (minBytes < 4 || maxBytes < minBytes || factor < 2)
            throw new IllegalArgumentException("bench allreduce: need 4 <= --min-bytes <= --max-bytes and --factor >= 2");
        BenchElementwise.checkWritable(json);
        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "bench allreduce: %s backend, %d processes on this machine, float32 SUM, %d..%d bytes%n", backend, nproc, minBytes, maxBytes);
        out.flush();
        List<Row> rows = measure(out);
        printTable(out, rows);
        if (json != null) {
            Files.writeString(json, toJson(rows));
            out.println("wrote " + json);
        }
        if (plot.wanted()) {
            BenchPlot.Panel bw = new BenchPlot.Panel("bandwidth, median per size", "buffer size", "GB/s (higher is better)", BenchPlot.Style.LINES);
            BenchPlot.Panel ms = new BenchPlot.Panel("time per all-reduce, median", "buffer size", "ms (lower is better)", BenchPlot.Style.LINES);
            for (Row r : rows) {
                String x = size(r.bytes());
                if (nproc == 2) bw.add("Kiln busbw (= algbw with 2 processes)", x, r.busbw(nproc));
                else bw.add("Kiln busbw = algbw x 2(n-1)/n", x, r.busbw(nproc)).add("Kiln algbw = bytes / time", x, r.algbw());
                ms.add("Kiln " + backend + " all-reduce", x, r.medianS() * 1e3);
            }
            plot.write(out, "kiln bench allreduce: " + backend + " all-reduce (float32 SUM), " + nproc + " processes on one machine", List.of(bw, ms));
        }
        out.flush();
        return 0;
    }

    private List<Row> measure(PrintWriter out) throws Exception {
        List<String> args = List.of(Long.toString(minBytes), Long.toString(maxBytes), Integer.toString(factor));
        var spec = new WorkerProcesses.Spec(nproc, Worker.class.getName(), args, java.util.Map.of("KILN_DIST_TIMEOUT_S", "120"),
                List.of("-Xmx1g"));
        List<Row> rows = new ArrayList<>();
        if (backend.equals("mpi")) {
            List<String> cmd = new ArrayList<>(List.of("mpirun", "--oversubscribe", "-np", Integer.toString(nproc), "-x", "KILN_DIST_TIMEOUT_S=120"));
            if ("root".equals(System.getProperty("user.name"))) cmd.add(1, "--allow-run-as-root");
            cmd.addAll(WorkerProcesses.command(spec));
            Process p;
            try {
                p = new ProcessBuilder(cmd).redirectError(Redirect.DISCARD).start();
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException("bench allreduce --backend mpi: cannot start mpirun (" + e.getMessage() + "); install Open MPI");
            }
            read(p.getInputStream(), rows, out);
            if (!p.waitFor(10, java.util.concurrent.TimeUnit.MINUTES) || p.exitValue() != 0)
                throw new IllegalStateException("bench allreduce: mpirun failed (exit " + (p.isAlive() ? "none: still running" : p.exitValue()) + ")");
            return rows;
        }
        try (WorkerProcesses workers = WorkerProcesses.start(spec, r -> r == 0 ? Redirect.PIPE : Redirect.DISCARD)) {
            read(workers.process(0).getInputStream(), rows, out);
            workers.awaitAll(Duration.ofMinutes(10));
        }
        return rows;
    }

    /** The RESULT lines rank 0 prints, as rows. */
    private static void read(java.io.InputStream stdout, List<Row> rows, PrintWriter out) throws java.io.IOException {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(stdout, StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("RESULT ")) continue;
                String[] f = line.split(" ");
                Row row = new Row(Long.parseLong(f[1]), Integer.parseInt(f[2]), Double.parseDouble(f[3]));
                rows.add(row);
                out.printf(Locale.ROOT, "  %s done%n", size(row.bytes()));
                out.flush();
            }
        }
    }

    private void printTable(PrintWriter out, List<Row> rows) {
        out.printf(Locale.ROOT, "%10s %8s %12s %12s %12s%n", "size", "repeats", "time", "algbw GB/s", "busbw GB/s");
        for (Row r : rows)
            out.printf(Locale.ROOT, "%10s %8d %12s %12.3f %12.3f%n", size(r.bytes()), r.repeats(), time(r.medianS()), r.algbw(), r.busbw(nproc));
    }

    private String toJson(List<Row> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append("{\"bench\": \"allreduce\", \"backend\": \"").append(backend).append("\", \"transport\": \"")
                .append(backend.equals("mpi") ? "mpi" : "tcp-loopback").append("\", \"nproc\": ").append(nproc)
                .append(", \"dtype\": \"float32\", \"op\": \"sum\", \"cores\": ").append(Runtime.getRuntime().availableProcessors())
                .append(", \"rows\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            sb.append(String.format(Locale.ROOT, "  {\"bytes\": %d, \"repeats\": %d, \"median_s\": %.9f, \"algbw_gbps\": %.4f, \"busbw_gbps\": %.4f}%s%n",
                    r.bytes(), r.repeats(), r.medianS(), r.algbw(), r.busbw(nproc), i + 1 < rows.size() ? "," : ""));
        }
        return sb.append("]}\n").toString();
    }

    static String size(long bytes) {
        if (bytes >= 1 << 20) return (bytes >> 20) + " MB";
        if (bytes >= 1 << 10) return (bytes >> 10) + " KB";
        return bytes + " B";
    }

    static String time(double s) {
        return s >= 1e-3 ? String.format(Locale.ROOT, "%.2f ms", s * 1e3) : String.format(Locale.ROOT, "%.1f us", s * 1e6);
    }

    /** Repeats for a size: 64 MB of traffic, between 5 and 200. */
    static int repeats(long bytes) {
        return (int) Math.clamp((64L << 20) / bytes, 5, 200);
    }

    /** A worker process: joins the group from the environment and times each size; rank 0 prints the results. */
    public static final class Worker {
        private Worker() {}

        public static void main(String[] args) {
            WorkerProcesses.exitWithParent();
            long min = Long.parseLong(args[0]), max = Long.parseLong(args[1]);
            int factor = Integer.parseInt(args[2]);
            try (ProcessGroup pg = ProcessGroups.fromEnv()) {
                for (long bytes = min; bytes <= max; bytes *= factor) {
                    int reps = repeats(bytes);
                    double[] times = new double[reps];
                    try (Tensor x = Tensor.ones(DType.F32, (int) (bytes / 4))) {
                        for (int w = 0; w < 2; w++) pg.allReduce(x, ReduceOp.SUM).await();
                        for (int i = 0; i < reps; i++) {
                            pg.barrier().await();
                            long t0 = System.nanoTime();
                            pg.allReduce(x, ReduceOp.SUM).await();
                            times[i] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                    Arrays.sort(times);
                    if (pg.rank() == 0) System.out.printf(Locale.ROOT, "RESULT %d %d %.9f%n", bytes, reps, times[reps / 2]);
                    System.out.flush();
                }
                pg.barrier().await();
            }
        }
    }
}
