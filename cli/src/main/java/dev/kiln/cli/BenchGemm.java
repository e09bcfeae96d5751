package dev.kiln.cli;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * `kiln bench gemm`: square F32 GEMM (C = A*B, row-major, off-heap) of Kiln against a peer found
 * with {@link ServiceLoader} ({@link GemmPeer}; the bench module provides OpenBLAS). For every
 * size and thread count both are warmed up (and their results compared), then timed interleaved:
 * {@value #ROUNDS} alternating phases, each after an untimed lead-in (see {@link #LEAD_IN_NANOS}),
 * each sample repeating the call until it lasts ~20 ms; the medians are reported in GFLOP/s.
 * Without a peer the rows say peer "none" and the ratio is null.
 */
@Command(name = "gemm", mixinStandardHelpOptions = true, version = "kiln 0.1.0",
        description = "Kiln sgemm vs OpenBLAS: square n, 1 thread and all threads, interleaved runs, median GFLOP/s.")
public final class BenchGemm implements Runnable {
    @Option(names = "--sizes", split = ",", description = "Matrix sizes n (default: ${DEFAULT-VALUE}).", defaultValue = "256,512,1024,2048")
    int[] sizes;

    @Option(names = "--shapes", split = ",", paramLabel = "MxKxN",
            description = "Rectangular shapes C[M,N] = A[M,K] * B[K,N] instead of --sizes, e.g. 1x768x3072,64x4096x4096; "
                    + "'inference' = M in {1, 8, 64} x (768x768, 768x3072, 3072x768, 4096x4096).")
    String[] shapes;

    @Option(names = "--threads", split = ",", description = "Thread counts (default: 1 and all cores).")
    int[] threads;

    @Option(names = "--json", description = "Write the rows as JSON to this file.")
    Path json;

    @Option(names = "--warmup", description = "Warm-up seconds per size and thread count (default: ${DEFAULT-VALUE}).", defaultValue = "1.0")
    double warmup;

    @Option(names = "--iters", description = "Timed samples per implementation (default: ${DEFAULT-VALUE}).", defaultValue = "15")
    int iters;

    @Mixin PlotOption plot;

    @Spec
    CommandSpec spec;

    private static final long SAMPLE_NANOS = 20_000_000L;
    /** Alternating phases per measurement (each side runs iters/ROUNDS samples per phase). */
    private static final int ROUNDS = 5;
    /**
     * Untimed lead-in before each phase. OpenBLAS's idle threads spin for 2^28 cycles (~0.1 s) after
     * a call before sleeping; timed right after OpenBLAS, Kiln's second thread would share its core
     * with them (measured: Kiln at 2 threads fell from ~200 to ~100 GFLOP/s). A plain pause is no
     * fix either: after 0.3 s idle the VM parks the second vCPU deeply and Kiln's pool thread wakes
     * slowly for a while (n=256, 2 threads: ~170 back-to-back vs ~115 GFLOP/s after a pause), while
     * OpenBLAS's spinning threads keep theirs awake. So each side runs untimed for this long first.
     */
    private static final long LEAD_IN_NANOS = 300_000_000L;

    @Override
    public void run() {
        int[] ts = threads != null ? threads : defaultThreads();
        validate(ts);
        GemmPeer peer = loadPeer();
        String peerName = peer == null ? "none" : peer.name();
        int savedThreads = CpuConfig.threads();
        List<BenchResult> rows = new ArrayList<>();
        boolean square = shapes == null;
        BenchPlot.Panel chart = new BenchPlot.Panel("GFLOP/s by " + (square ? "size n (n x n x n)" : "shape M x K x N"),
                square ? "n" : "M x K x N", "GFLOP/s (higher is better)", square ? BenchPlot.Style.LINES : BenchPlot.Style.BARS);
        try {
            for (int[] mkn : shapeList())
                for (int t : ts) {
                    BenchResult r = measure(mkn[0], mkn[1], mkn[2], t, peer, peerName);
                    System.err.printf(Locale.ROOT, "  %s: kiln %.1f, %s %.1f GFLOP/s%n", r.name(), r.kiln(), peerName, r.peerValue());
                    rows.add(r);
                    String x = square ? Integer.toString(mkn[0]) : mkn[0] + "x" + mkn[1] + "x" + mkn[2];
                    chart.add("Kiln " + threadsLabel(t), x, r.kiln());
                    if (peer != null) chart.add(peerName + " " + threadsLabel(t), x, r.peerValue());
                }
        } finally {
            CpuConfig.setThreads(savedThreads);
        }
        BenchResult.printTable(rows);
        try {
            if (json != null) BenchResult.writeJson(json, rows);
            plot.write(spec.commandLine().getOut(), "kiln bench gemm: F32 GEMM, Kiln vs " + (peer == null ? "no peer (none on the class path)" : peerName), List.of(chart));
        } catch (IOException e) {
            throw new IllegalStateException("bench gemm: cannot write the results: " + e.getMessage(), e);
        }
    }

    /** "1 thread", "2 threads": the series names of the charts. */
    static String threadsLabel(int t) { return t + (t == 1 ? " thread" : " threads"); }

    private void validate(int[] ts) {
        String bad = iters < 1 ? "--iters must be >= 1"
                : warmup < 0 ? "--warmup must be >= 0"
                : Arrays.stream(sizes).anyMatch(n -> n < 1) ? "--sizes must all be >= 1"
                : Arrays.stream(ts).anyMatch(t -> t < 1) ? "--threads must all be >= 1" : null;
        if (bad != null) throw new CommandLine.ParameterException(spec.commandLine(), "bench gemm: " + bad);
    }

    /** The shapes to run as {M, K, N}: --shapes when given, else the square --sizes. */
    private List<int[]> shapeList() {
        if (shapes != null) return parseShapes("bench gemm", shapes, spec);
        List<int[]> out = new ArrayList<>();
        for (int n : sizes) out.add(new int[]{n, n, n});
        return out;
    }

    /**
     * {M, K, N} for each "MxKxN" (positive integers) or "inference" (M in {1, 8, 64} x the BERT/GPT-2
     * weights 768x768, 768x3072, 3072x768, 4096x4096); a bad one is a usage error naming it.
     */
    static List<int[]> parseShapes(String command, String[] specs, CommandSpec spec) {
        List<int[]> out = new ArrayList<>();
        for (String s : specs) {
            if (s.equals("inference")) {
                for (int m : new int[]{1, 8, 64})
                    for (int[] kn : new int[][]{{768, 768}, {768, 3072}, {3072, 768}, {4096, 4096}}) out.add(new int[]{m, kn[0], kn[1]});
                continue;
            }
            String[] p = s.split("x");
            try {
                if (p.length != 3) throw new NumberFormatException();
                int[] mkn = {Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2])};
                if (mkn[0] < 1 || mkn[1] < 1 || mkn[2] < 1) throw new NumberFormatException();
                out.add(mkn);
            } catch (NumberFormatException e) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        command + ": --shapes wants MxKxN with positive integers (e.g. 64x4096x4096), got '" + s + "'");
            }
        }
        return out;
    }

    private static int[] defaultThreads() {
        int all = Runtime.getRuntime().availableProcessors();
        return all > 1 ? new int[]{1, all} : new int[]{1};
    }

    /** The first GemmPeer on the class path, or null (with a note) when there is none or it fails to load. */
    static GemmPeer loadPeer() {
        try {
            return ServiceLoader.load(GemmPeer.class).findFirst().orElseGet(() -> {
                System.err.println("bench gemm: no GemmPeer on the class path; reporting Kiln alone");
                return null;
            });
        } catch (ServiceConfigurationError | LinkageError e) {
            System.err.println("bench gemm: peer failed to load (" + e.getMessage() + "); reporting Kiln alone");
            return null;
        }
    }

    private BenchResult measure(int m, int k, int n, int t, GemmPeer peer, String peerName) {
        CpuConfig.setThreads(t);
        if (peer != null) peer.setThreads(t);
        Generator g = new Generator(n);
        Backend cpu = Backends.cpu();
        try (Tensor a = Tensor.uniform(g, -1, 1, DType.F32, m, k); Tensor b = Tensor.uniform(g, -1, 1, DType.F32, k, n);
             Tensor ck = Tensor.zeros(m, n); Tensor cp = Tensor.zeros(m, n)) {
            Runnable kiln = () -> cpu.gemm(false, false, 1.0, a, b, 0.0, ck);
            Runnable other = peer == null ? null : () -> peer.sgemm(m, n, k, a.segment(), b.segment(), cp.segment());
            long deadline = System.nanoTime() + (long) (warmup * 1e9);
            do {
                kiln.run();
                if (other != null) other.run();
            } while (System.nanoTime() < deadline);
            if (other != null) checkAgree(k, ck, cp);
            int repsK = reps(kiln), repsP = other == null ? 0 : reps(other);
            double[] gk = new double[iters], gp = new double[iters];
            double flops = 2.0 * m * n * k;
            int rounds = Math.min(iters, ROUNDS);
            for (int r = 0; r < rounds; r++) {
                int from = r * iters / rounds, to = (r + 1) * iters / rounds;
                for (int side = 0; side < 2; side++) {
                    boolean kilnNow = (side == 0) == (r % 2 == 0);     // alternate which goes first
                    if (!kilnNow && other == null) continue;
                    leadIn(kilnNow ? kiln : other);
                    for (int i = from; i < to; i++) {
                        if (kilnNow) gk[i] = time(kiln, repsK, flops);
                        else gp[i] = time(other, repsP, flops);
                    }
                }
            }
            String name = m == n && n == k ? String.format(Locale.ROOT, "sgemm n=%d threads=%d", n, t)
                    : String.format(Locale.ROOT, "sgemm %dx%dx%d threads=%d", m, k, n, t);
            return new BenchResult(name, "GFLOP/s", median(gk), peerName, other == null ? Double.NaN : median(gp));
        }
    }

    private static void leadIn(Runnable r) {
        long end = System.nanoTime() + LEAD_IN_NANOS;
        do r.run(); while (System.nanoTime() < end);
    }

    /** Repetitions that make one sample last about SAMPLE_NANOS. */
    private static int reps(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        long dt = Math.max(System.nanoTime() - t0, 1);
        return (int) Math.max(1, Math.min(1000, SAMPLE_NANOS / dt));
    }

    private static double time(Runnable r, int reps, double flops) {
        long t0 = System.nanoTime();
        for (int i = 0; i < reps; i++) r.run();
        return flops * reps / (System.nanoTime() - t0);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : (n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]));
    }

    /** Warns when Kiln and the peer disagree beyond float rounding (a benchmark of a wrong result is void). */
    private static void checkAgree(int n, Tensor ck, Tensor cp) {   // n: the reduction length
        float[] x = ck.toFloatArray(), y = cp.toFloatArray();
        double worst = 0;
        for (int i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
        if (!(worst <= 1e-5 * n + 1e-4))
            System.err.printf(Locale.ROOT, "bench gemm: WARNING k=%d: Kiln and peer differ by up to %.3g%n", n, worst);
    }
}
