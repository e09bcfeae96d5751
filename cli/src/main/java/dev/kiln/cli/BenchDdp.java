package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.dist.DistributedDataParallel;
import dev.kiln.dist.ProcessGroup;
import dev.kiln.dist.ProcessGroups;
import dev.kiln.dist.WorkerProcesses;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Module;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Models;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.ProcessBuilder.Redirect;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * `kiln bench ddp`: the cost of data parallelism on CPU processes. Median time of one training step
 * (forward, backward, SGD step) of the MLP (or CNN) at a per-process batch, for 1 process without
 * DDP and for 2 worker processes with DDP over the TCP ring, with overlap (buckets all-reduced from
 * the gradient hooks during backward) and without (everything reduced after backward). Every
 * process uses one compute thread, so 2 processes do twice the work of 1 in the same step time if
 * communication were free: the ratio to 1 process is the overhead (1.0 = none).
 */
@Command(name = "ddp", mixinStandardHelpOptions = true,
        description = "DDP step time on 2 CPU processes vs 1 process without DDP, with and without overlap.")
public final class BenchDdp implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "mlp", description = "mlp or cnn (default: ${DEFAULT-VALUE}).")
    String model;
    @Option(names = "--batch", defaultValue = "64", description = "Batch per process (default: ${DEFAULT-VALUE}).")
    int batch;
    @Option(names = "--steps", defaultValue = "40", description = "Timed steps; the median is reported (default: ${DEFAULT-VALUE}).")
    int steps;
    @Option(names = "--warmup", defaultValue = "15", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;
    @Option(names = "--bucket-kb", defaultValue = "25600", description = "DDP gradient bucket size in KiB (default: ${DEFAULT-VALUE}, i.e. 25 MB).")
    long bucketKb;
    @Option(names = "--json", paramLabel = "FILE", description = "Also write the rows as a JSON array to FILE.")
    Path json;
    @CommandLine.Mixin PlotOption plot;
    @Option(names = "--worker", hidden = true, description = "Run as a DDP worker (started by this benchmark).")
    boolean worker;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** Worker entry: {@code java ... dev.kiln.cli.BenchDdp --worker ...} with RANK/WORLD_SIZE/MASTER_* set. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new BenchDdp()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (!Models.NAMES.contains(model)) throw new IllegalArgumentException("bench ddp: unknown model '" + model + "'");
        if (batch < 1 || steps < 1 || warmup < 0) throw new IllegalArgumentException("bench ddp: need --batch >= 1, --steps >= 1, --warmup >= 0");
        CpuConfig.setThreads(1);
        if (worker) return runWorker();
        var out = spec.commandLine().getOut();
        double base = stepMillis(null, true);
        double[] ddp = runWorkers();
        List<BenchResult> rows = List.of(
                new BenchResult("ddp " + model + " 1 process, no DDP", "ms/step", base, "1 process", base),
                new BenchResult("ddp " + model + " 2 processes, overlap", "ms/step", ddp[0], "1 process", base),
                new BenchResult("ddp " + model + " 2 processes, no overlap", "ms/step", ddp[1], "1 process", base));
        out.printf(Locale.ROOT, "%s, batch %d per process, 1 thread per process, median of %d steps%n", model, batch, steps);
        out.flush();
        BenchResult.printTable(rows);
        if (json != null) {
            BenchResult.writeJson(json, rows);
            out.println("wrote " + json);
        }
        BenchPlot.Panel p = new BenchPlot.Panel(model + ", batch " + batch + " per process, 1 thread per process, median of " + steps + " steps",
                "", "ms per training step (lower is better)", BenchPlot.Style.BARS);
        for (BenchResult r : rows) p.add("Kiln ms/step", r.name().replace("ddp " + model + " ", ""), r.kiln());
        plot.write(out, "kiln bench ddp: data-parallel step time (2 processes do twice the work of 1)", List.of(p));
        return Main.OK;
    }

    /** Starts 2 workers; returns rank 0's {overlap, no overlap} median step times. */
    private double[] runWorkers() throws Exception {
        List<String> args = new ArrayList<>(List.of("--worker", "--model", model, "--batch", Integer.toString(batch),
                "--steps", Integer.toString(steps), "--warmup", Integer.toString(warmup), "--bucket-kb", Long.toString(bucketKb)));
        var spec2 = new WorkerProcesses.Spec(2, BenchDdp.class.getName(), args, Map.of(), List.of());
        try (WorkerProcesses w = WorkerProcesses.start(spec2, r -> r == 0 ? Redirect.PIPE : Redirect.DISCARD)) {
            double[] result = null;
            try (BufferedReader r = new BufferedReader(new InputStreamReader(w.process(0).getInputStream()))) {
                for (String line; (line = r.readLine()) != null; )
                    if (line.startsWith("RESULT ")) result = Arrays.stream(line.substring(7).split(" ")).mapToDouble(Double::parseDouble).toArray();
            }
            w.awaitAll(Duration.ofMinutes(5));
            if (result == null) throw new IllegalStateException("bench ddp: rank 0 printed no result");
            return result;
        }
    }

    private int runWorker() {
        WorkerProcesses.exitWithParent();
        try (ProcessGroup pg = ProcessGroups.fromEnv()) {
            // each mode twice, alternating, the faster median of each kept: JIT warm-up left over from
            // the first round must not count against whichever mode happens to run first
            double plain = Double.MAX_VALUE, overlap = Double.MAX_VALUE;
            for (int round = 0; round < 2; round++) {
                plain = Math.min(plain, stepMillis(pg, false));
                pg.barrier().await();
                overlap = Math.min(overlap, stepMillis(pg, true));
                pg.barrier().await();
            }
            if (pg.rank() == 0) System.out.printf(Locale.ROOT, "RESULT %.4f %.4f%n", overlap, plain);
        }
        return Main.OK;
    }

    /** Median ms of a training step; with pg, through DDP (overlap on or off). */
    private double stepMillis(ProcessGroup pg, boolean overlap) {
        Generator g = new Generator(0);
        try (Module net = Models.byName(model, g);
             DistributedDataParallel ddp = pg == null ? null : DistributedDataParallel.builder(net, pg).overlap(overlap).bucketBytes(bucketKb * 1024).build();
             Optimizer inner = new SGD(net.parameters(), 0.01, 0.9, 0, 0, false);
             Tensor x = Tensor.randn(g, batch, 1, 28, 28);
             Tensor y = Tensor.fromArray(labels(batch), batch)) {
            Module m = ddp == null ? net : ddp;
            Optimizer opt = ddp == null ? inner : ddp.wrap(inner);
            double[] ms = new double[steps];
            for (int s = 0; s < warmup + steps; s++) {
                long t0 = System.nanoTime();
                try (Scope sc = Scope.open()) {
                    Loss.crossEntropy(m.forward(x), y).backward();
                    opt.step();
                    opt.zeroGrad();
                }
                if (s >= warmup) ms[s - warmup] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(ms);
            return ms[steps / 2];
        }
    }

    private static long[] labels(int n) {
        long[] y = new long[n];
        for (int i = 0; i < n; i++) y[i] = i % 10;
        return y;
    }
}
