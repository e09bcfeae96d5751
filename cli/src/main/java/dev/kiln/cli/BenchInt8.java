package dev.kiln.cli;

import dev.kiln.backend.Backend;
import dev.kiln.backend.Backends;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.compress.quant.Int8Gemm;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * `kiln bench int8`: the int8 GEMM (C [M, N] int32 = A [M, K] x W [N, K]^T, W packed once, the
 * layout of a quantized linear layer) against Kiln's own F32 GEMM on the same shapes, and against
 * the {@link GemmPeer} sgemm (OpenBLAS, from the bench module) when one is on the class path. Shapes:
 * square n = 512, 1024, 2048 and 64 rows x 4096 x 4096 weights (a batch through a large layer).
 * Every shape and thread count is warmed up, then each side is timed in alternating phases; the
 * medians are reported in GOP/s (2 M N K operations per second). Two rows per case: int8 vs Kiln
 * F32 (the goal is a ratio of 2) and int8 vs the peer (null when there is none).
 */
@Command(name = "int8", mixinStandardHelpOptions = true, version = "kiln 0.1.0",
        description = "Kiln int8 GEMM vs Kiln F32 GEMM and OpenBLAS sgemm: median GOP/s, 1 and 2 threads.")
public final class BenchInt8 implements Runnable {
    @Option(names = "--sizes", split = ",", description = "Square sizes n (default: ${DEFAULT-VALUE}).", defaultValue = "512,1024,2048")
    int[] sizes;

    @Option(names = "--rows", description = "Rows M for the large-layer case (4096 x 4096 weights; 0 skips it; default: ${DEFAULT-VALUE}).", defaultValue = "64")
    int rows;

    @Option(names = "--threads", split = ",", description = "Thread counts (default: ${DEFAULT-VALUE}).", defaultValue = "1,2")
    int[] threads;

    @Option(names = "--json", description = "Write the rows as JSON to this file.")
    Path json;

    @Option(names = "--warmup", description = "Warm-up seconds per case (default: ${DEFAULT-VALUE}).", defaultValue = "0.5")
    double warmup;

    @Option(names = "--iters", description = "Timed samples per implementation (default: ${DEFAULT-VALUE}).", defaultValue = "9")
    int iters;

    @picocli.CommandLine.Mixin PlotOption plot;

    @Spec
    CommandSpec spec;

    private static final long SAMPLE_NANOS = 20_000_000L;
    private static final int ROUNDS = 3;

    @Override
    public void run() {
        validate();
        GemmPeer peer = BenchGemm.loadPeer();
        String peerName = peer == null ? "peer unavailable" : peer.name();
        System.err.println("bench int8: int8 kernel: " + dev.kiln.compress.quant.Int8Gemm.kernelDescription());
        List<int[]> shapes = new ArrayList<>();
        for (int n : sizes) shapes.add(new int[]{n, n, n});
        if (rows > 0) shapes.add(new int[]{rows, 4096, 4096});
        int savedThreads = CpuConfig.threads();
        List<BenchResult> out = new ArrayList<>();
        java.util.Map<Integer, BenchPlot.Panel> panels = new java.util.LinkedHashMap<>();
        for (int t : threads)
            panels.put(t, new BenchPlot.Panel(BenchGemm.threadsLabel(t), "M x K x N", "GOP/s (higher is better)", BenchPlot.Style.BARS));
        try {
            for (int[] s : shapes)
                for (int t : threads) {
                    List<BenchResult> two = measure(s[0], s[1], s[2], t, peer, peerName);
                    out.addAll(two);
                    String x = s[0] + "x" + s[2] + "x" + s[1];      // measure's (m, n, k) as M x K x N
                    panels.get(t).add("Kiln int8", x, two.get(0).kiln()).add("Kiln f32", x, two.get(0).peerValue())
                            .add(peerName + " f32", x, two.get(1).peerValue());
                }
        } finally {
            CpuConfig.setThreads(savedThreads);
        }
        BenchResult.printTable(out);
        try {
            if (json != null) BenchResult.writeJson(json, out);
            plot.write(spec.commandLine().getOut(), "kiln bench int8: int8 GEMM (int32 result) vs F32 GEMM, 2MNK op/s",
                    new ArrayList<>(panels.values()));
        } catch (IOException e) {
            throw new IllegalStateException("bench int8: cannot write the results: " + e.getMessage(), e);
        }
    }

    private void validate() {
        String bad = iters < 1 ? "--iters must be >= 1"
                : warmup < 0 ? "--warmup must be >= 0"
                : rows < 0 ? "--rows must be >= 0"
                : Arrays.stream(sizes).anyMatch(n -> n < 1) ? "--sizes must all be >= 1"
                : Arrays.stream(threads).anyMatch(t -> t < 1) ? "--threads must all be >= 1" : null;
        if (bad != null) throw new CommandLine.ParameterException(spec.commandLine(), "bench int8: " + bad);
    }

    /** The two rows (vs Kiln F32, vs the peer) for one shape and thread count. */
    private List<BenchResult> measure(int m, int n, int k, int t, GemmPeer peer, String peerName) {
        CpuConfig.setThreads(t);
        if (peer != null) peer.setThreads(t);
        Generator g = new Generator(m + 31L * n);
        Backend cpu = Backends.cpu();
        try (Tensor a8 = randomInt8(m, k, 1); Tensor w8 = randomInt8(n, k, 2);
             Tensor af = Tensor.uniform(g, -1, 1, DType.F32, m, k); Tensor wf = Tensor.uniform(g, -1, 1, DType.F32, n, k);
             Tensor wfT = Tensor.uniform(g, -1, 1, DType.F32, k, n);
             Tensor cf = Tensor.zeros(m, n); Tensor cp = Tensor.zeros(m, n)) {
            Int8Gemm.PackedInt8 packed = Int8Gemm.pack(w8);
            // the array entry the quantized layers call (A as int8 bytes, int32 result array); the
            // tensor entry adds a copy of A in and of C out, as the fp32 side has none
            byte[] a8bytes = new byte[m * k];
            java.lang.foreign.MemorySegment.copy(a8.segment(), java.lang.foreign.ValueLayout.JAVA_BYTE, a8.offset(), a8bytes, 0, a8bytes.length);
            Runnable int8 = () -> Int8Gemm.matmulT(a8bytes, m, k, packed);
            Runnable f32 = () -> cpu.gemm(false, true, 1.0, af, wf, 0.0, cf);
            Runnable other = peer == null ? null : () -> peer.sgemm(m, n, k, af.segment(), wfT.segment(), cp.segment());
            List<Runnable> sides = new ArrayList<>(List.of(int8, f32));
            if (other != null) sides.add(other);
            long deadline = System.nanoTime() + (long) (warmup * 1e9);
            do sides.forEach(Runnable::run); while (System.nanoTime() < deadline);
            double ops = 2.0 * m * n * k;
            double[] med = timeInterleaved(sides, ops);
            String shape = String.format(Locale.ROOT, "m=%d n=%d k=%d t=%d", m, n, k, t);
            System.err.printf(Locale.ROOT, "  %s: int8 %.1f, f32 %.1f, %s %.1f GOP/s%n", shape, med[0], med[1], peerName,
                    other == null ? Double.NaN : med[2]);
            return List.of(new BenchResult("int8 vs f32 " + shape, "GOP/s", med[0], "kiln f32", med[1]),
                    new BenchResult("int8 vs peer " + shape, "GOP/s", med[0], peerName, other == null ? Double.NaN : med[2]));
        }
    }

    private static Tensor randomInt8(int rows, int cols, long seed) {
        Random r = new Random(seed);
        double[] v = new double[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = r.nextInt(256) - 128;
        return Tensor.fromDoubles(DType.I8, v, rows, cols);
    }

    /** Median GOP/s per side, sampled in {@value #ROUNDS} rounds whose side order rotates. */
    private double[] timeInterleaved(List<Runnable> sides, double ops) {
        int s = sides.size();
        int[] reps = new int[s];
        for (int i = 0; i < s; i++) reps[i] = reps(sides.get(i));
        double[][] samples = new double[s][iters];
        int rounds = Math.min(iters, ROUNDS);
        for (int r = 0; r < rounds; r++) {
            int from = r * iters / rounds, to = (r + 1) * iters / rounds;
            for (int j = 0; j < s; j++) {
                int side = (j + r) % s;
                for (int i = from; i < to; i++) samples[side][i] = time(sides.get(side), reps[side], ops);
                pause();
            }
        }
        double[] med = new double[s];
        for (int i = 0; i < s; i++) med[i] = median(samples[i]);
        return med;
    }

    /**
     * Lets the previous side's idle worker threads go to sleep before the next side is timed:
     * OpenBLAS's pthreads spin for about 0.1 s after each call, and measured on 2 cores that took
     * one core from whichever side came next (int8 at 2 threads: 290-420 GOP/s right after
     * OpenBLAS, 560-600 without it).
     */
    private static void pause() {
        try {
            Thread.sleep(PAUSE_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static final long PAUSE_MS = 200;

    private static int reps(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        long dt = Math.max(System.nanoTime() - t0, 1);
        return (int) Math.max(1, Math.min(1000, SAMPLE_NANOS / dt));
    }

    private static double time(Runnable r, int reps, double ops) {
        long t0 = System.nanoTime();
        for (int i = 0; i < reps; i++) r.run();
        return ops * reps / (System.nanoTime() - t0);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }
}
