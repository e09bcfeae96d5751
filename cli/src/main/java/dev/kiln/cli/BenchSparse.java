package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.compress.sparse.BsrMatrix;
import dev.kiln.compress.sparse.CsrMatrix;
import dev.kiln.compress.sparse.Sparse24Matrix;
import dev.kiln.compress.sparse.SparseCrossover;
import dev.kiln.compress.sparse.SparseMatmul;
import dev.kiln.compress.sparse.SparseMatrix;
import dev.kiln.io.AtomicWrite;
import dev.kiln.ops.Linear;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code kiln bench sparse}: Y = X W^T with a sparse W [n x n] (CSR and 4x4 BSR from random
 * element masks, BSR from 4x4-block masks, 2:4) against Kiln's dense {@link Linear#linear} on the
 * same shapes, in the same run, for batches of 64 and 1 activation rows and 1 and 2 threads.
 * Every time is the median of --runs after --warmup, and includes the sparse path's transposes and
 * allocations. The dense time each speedup divides is re-measured right before that sparse case
 * (the "dense" rows are the first such measurement). GFLOP/s-effective = 2 n n batch / time (the dense work), so it is directly
 * comparable across rows; speedup = dense time / sparse time. --crossover writes the derived
 * {@link SparseCrossover} table (the resource SparseLinear reads).
 */
@Command(name = "sparse", mixinStandardHelpOptions = true,
        description = {"Sparse (CSR, BSR 4x4, 2:4) x dense vs Kiln's dense Linear: ms, effective GFLOP/s, speedup.",
                "Batches of 64 and 1 activation rows, 1 and 2 threads, several sparsities."})
public final class BenchSparse implements Callable<Integer> {
    @Option(names = "--size", defaultValue = "4096", description = "Weight size n (n x n) (default: ${DEFAULT-VALUE}).")
    int size;
    @Option(names = "--sparsities", split = ",", defaultValue = "0.5,0.75,0.9,0.95,0.99", description = "Unstructured sparsities.")
    double[] sparsities;
    @Option(names = "--batches", split = ",", defaultValue = "64,1", description = "Activation rows (default: ${DEFAULT-VALUE}).")
    int[] batches;
    @Option(names = "--threads", split = ",", defaultValue = "1,2", description = "Thread counts (default: ${DEFAULT-VALUE}).")
    int[] threads;
    @Option(names = "--runs", defaultValue = "7", description = "Timed runs; the median is reported.")
    int runs;
    @Option(names = "--warmup", defaultValue = "2", description = "Untimed runs first.")
    int warmup;
    @Option(names = "--json", paramLabel = "FILE", description = "Write the rows as JSON.")
    Path json;
    @Option(names = "--crossover", paramLabel = "FILE", description = "Write the crossover table (SparseCrossover JSON).")
    Path crossover;

    @picocli.CommandLine.Mixin PlotOption plot;

    @Spec CommandSpec spec;

    /** One measured row. */
    public record Row(double sparsity, String format, int batch, int threads, double ms, double gflops, double speedup, long bytes) {
        String toJson() {
            return String.format(Locale.ROOT, "{\"sparsity\":%.4f,\"format\":\"%s\",\"batch\":%d,\"threads\":%d,\"ms\":%.4f,"
                    + "\"gflops_effective\":%.3f,\"speedup\":%.4f,\"bytes\":%d}", sparsity, format, batch, threads, ms, gflops, speedup, bytes);
        }
    }

    @Override
    public Integer call() throws Exception {
        validate();
        BenchElementwise.checkWritable(json);
        BenchElementwise.checkWritable(crossover);
        PrintWriter out = spec == null ? new PrintWriter(System.out, true) : spec.commandLine().getOut();
        List<Row> rows = run(out);
        printTable(out, rows);
        String table = crossoverTable(rows).toJson();
        if (json != null) {
            StringBuilder sb = new StringBuilder("{\"size\":" + size + ",\"rows\":[\n");
            for (int i = 0; i < rows.size(); i++) sb.append("  ").append(rows.get(i).toJson()).append(i + 1 < rows.size() ? ",\n" : "\n");
            sb.append("],\"crossover\":").append(table).append("}\n");
            AtomicWrite.writeString(json, sb.toString());
            out.println("wrote " + json);
        }
        if (crossover != null) {
            AtomicWrite.writeString(crossover, table);
            out.println("wrote " + crossover);
        }
        plot.write(out, "kiln bench sparse: Y = X W^T, W " + size + "x" + size + " sparse vs Kiln's dense Linear", panels(rows));
        out.flush();
        return Main.OK;
    }

    /** One chart panel per batch and thread count: each format's speedup over dense by sparsity, dense = 1 as a line. */
    static List<BenchPlot.Panel> panels(List<Row> rows) {
        Map<String, BenchPlot.Panel> panels = new LinkedHashMap<>();
        List<String> xs = rows.stream().filter(r -> !r.format.equals("dense")).map(r -> sparsityLabel(r.sparsity)).distinct().sorted().toList();
        for (Row r : rows) {
            BenchPlot.Panel p = panels.computeIfAbsent("batch " + r.batch + ", " + BenchGemm.threadsLabel(r.threads),
                    k -> new BenchPlot.Panel(k, "sparsity (fraction of zero weights)", "speedup over dense (higher is better)", BenchPlot.Style.LINES));
            if (r.format.equals("dense")) {
                for (String x : xs) p.add("dense", x, 1.0);
                p.asLine("dense");
            } else {
                p.add(r.format, sparsityLabel(r.sparsity), r.speedup);
            }
        }
        return new ArrayList<>(panels.values());
    }

    private static String sparsityLabel(double s) { return String.format(Locale.ROOT, "%.2f", s); }

    private void validate() {
        String bad = size < 1 ? "--size must be >= 1" : runs < 1 ? "--runs must be >= 1" : warmup < 0 ? "--warmup must be >= 0"
                : java.util.Arrays.stream(threads).anyMatch(t -> t < 1) ? "--threads must be >= 1"
                : java.util.Arrays.stream(batches).anyMatch(b -> b < 1) ? "--batches must be >= 1"
                : java.util.Arrays.stream(sparsities).anyMatch(s -> s < 0 || s >= 1) ? "--sparsities must be in [0, 1)" : null;
        if (bad != null) throw new IllegalArgumentException("bench sparse: " + bad);
    }

    /** All measurements: per sparsity the formats are built once and timed for every thread count and batch. */
    List<Row> run(PrintWriter log) throws Exception {
        int n = size;
        float[] base = uniform(1, n * n);
        Map<String, Double> denseMs = new LinkedHashMap<>();
        Map<Integer, float[]> xs = new LinkedHashMap<>();
        for (int b : batches) xs.put(b, uniform(2 + b, b * n));
        List<Row> rows = new ArrayList<>();
        int saved = CpuConfig.threads();
        try (Tensor w = Tensor.fromArray(base, n, n)) {
            for (int t : threads)
                for (int b : batches) {
                    CpuConfig.setThreads(t);
                    try (Tensor x = Tensor.fromArray(xs.get(b), b, n)) {
                        double ms = 1e3 * Timing.medianSeconds(() -> Linear.linear(x, w, null).close(), warmup, runs, 30);
                        denseMs.put(t + "/" + b, ms);
                        rows.add(row(0, "dense", b, t, ms, ms, 4L * n * n));
                        log.printf(Locale.ROOT, "  dense batch %d threads %d: %.3f ms%n", b, t, ms);
                        log.flush();
                    }
                }
            List<Object[]> cases = new ArrayList<>();
            for (double s : sparsities) {
                cases.add(new Object[]{s, List.of(CsrMatrix.fromDense(masked(base, s, 1), n, n),
                        BsrMatrix.fromDense(masked(base, s, 1), n, n))});
                cases.add(new Object[]{s, List.of(BsrMatrix.fromDense(masked(base, s, 4), n, n))});
            }
            cases.add(new Object[]{0.5, List.of(Sparse24Matrix.fromDense(Sparse24Matrix.keepLargestTwoOfFour(base.clone(), n, n), n, n))});
            for (int ci = 0; ci < cases.size(); ci++) {
                double s = (double) cases.get(ci)[0];
                @SuppressWarnings("unchecked") List<SparseMatrix> ms = (List<SparseMatrix>) cases.get(ci)[1];
                boolean blockMask = ms.size() == 1 && ms.get(0) instanceof BsrMatrix;
                for (SparseMatrix m : ms) {
                    String name = m.format() + (m instanceof BsrMatrix ? (blockMask ? "-blockmask" : "-random") : "");
                    for (int t : threads)
                        for (int b : batches) {
                            CpuConfig.setThreads(t);
                            float[] x = xs.get(b);
                            double dms = denseNow(w, x, b);
                            double ms1 = 1e3 * Timing.medianSeconds(() -> SparseMatmul.linear(x, b, m), warmup, runs, 30);
                            Row r = row(s, name, b, t, ms1, dms, m.bytes());
                            rows.add(r);
                            log.printf(Locale.ROOT, "  %-16s s=%.2f batch %d threads %d: %.3f ms (%.2fx dense)%n", name, s, b, t, ms1, r.speedup);
                            log.flush();
                        }
                }
                cases.set(ci, new Object[]{s, List.of()});       // let the matrices go
            }
        } finally {
            CpuConfig.setThreads(saved);
        }
        return rows;
    }

    /**
     * Dense time (ms) measured right before a sparse case: the shared machine's load drifts, so each
     * speedup compares two timings taken back to back.
     */
    private double denseNow(Tensor w, float[] x, int b) throws Exception {
        try (Tensor xt = Tensor.fromArray(x, b, size)) {
            return 1e3 * Timing.medianSeconds(() -> Linear.linear(xt, w, null).close(), 1, runs, 30);
        }
    }

    private Row row(double s, String format, int b, int t, double ms, double denseMs, long bytes) {
        return new Row(s, format, b, t, ms, 2.0 * size * size * b / (ms * 1e-3) * 1e-9, denseMs / ms, bytes);
    }

    private static float[] uniform(long seed, int count) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            float f = (float) (r.nextDouble() * 2 - 1);
            v[i] = f == 0 ? 0.5f : f;
        }
        return v;
    }

    /** base with entries (block = 1) or block x block tiles (block = 4) zeroed with probability s. */
    private float[] masked(float[] base, double s, int block) {
        int n = size;
        float[] d = base.clone();
        SplittableRandom r = new SplittableRandom(Double.doubleToLongBits(s) ^ block);
        for (int i0 = 0; i0 < n; i0 += block)
            for (int j0 = 0; j0 < n; j0 += block)
                if (r.nextDouble() < s)
                    for (int i = i0; i < Math.min(n, i0 + block); i++)
                        java.util.Arrays.fill(d, i * n + j0, i * n + Math.min(n, j0 + block), 0f);
        return d;
    }

    static void printTable(PrintWriter out, List<Row> rows) {
        ResultTable t = new ResultTable("sparsity", "format", "batch", "threads", "ms", "GFLOP/s-eff", "speedup", "MiB").alignRight(0, 2, 3, 4, 5, 6, 7);
        for (Row r : rows)
            t.add(String.format(Locale.ROOT, "%.2f", r.sparsity), r.format, Integer.toString(r.batch), Integer.toString(r.threads),
                    String.format(Locale.ROOT, "%.3f", r.ms), String.format(Locale.ROOT, "%.1f", r.gflops),
                    String.format(Locale.ROOT, "%.2f", r.speedup), String.format(Locale.ROOT, "%.1f", r.bytes / 1048576.0));
        t.print(out);
    }

    /** Per format (csr, bsr4x4 from block masks, 2:4), batch and threads: the speedup curve over sparsity. */
    static SparseCrossover crossoverTable(List<Row> rows) {
        Map<String, List<Row>> groups = new LinkedHashMap<>();
        for (Row r : rows) {
            String f = switch (r.format) { case "csr" -> "csr"; case "bsr4x4-blockmask" -> "bsr4x4"; case "2:4" -> "2:4"; default -> null; };
            if (f != null) groups.computeIfAbsent(f + "|" + r.batch + "|" + r.threads, k -> new ArrayList<>()).add(r);
        }
        List<SparseCrossover.Curve> curves = new ArrayList<>();
        for (var e : groups.entrySet()) {
            List<Row> g = e.getValue().stream().sorted(java.util.Comparator.comparingDouble(Row::sparsity)).toList();
            String[] key = e.getKey().split("\\|");
            curves.add(new SparseCrossover.Curve(key[0], Integer.parseInt(key[1]), Integer.parseInt(key[2]),
                    g.stream().mapToDouble(Row::sparsity).toArray(), g.stream().mapToDouble(Row::speedup).toArray()));
        }
        return new SparseCrossover("cpu", curves);
    }
}
