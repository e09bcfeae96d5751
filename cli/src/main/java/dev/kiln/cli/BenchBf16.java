package dev.kiln.cli;

import dev.kiln.backend.Backends;
import dev.kiln.backend.cpu.Bf16Gemm;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kiln bench bf16}: Kiln's bf16 GEMM (f32 activations rounded to bf16 as they are packed,
 * weights packed once, f32 accumulation) against Kiln's own f32 GEMM on the same shapes, same
 * threads, interleaved; also the accuracy of the bf16 result against the f32 one
 * (max |bf16 - f32| / max |f32|).
 */
@Command(name = "bf16", mixinStandardHelpOptions = true,
        description = "Kiln bf16 GEMM (native AVX512-BF16 or Vector API) vs Kiln f32 GEMM: median GFLOP/s, 1 and all threads.")
public final class BenchBf16 implements Callable<Integer> {
    @Option(names = "--shapes", split = ",", paramLabel = "MxKxN", defaultValue = "512x512x512,1024x1024x1024,2048x2048x2048,1x768x3072,64x768x3072,1x4096x4096",
            description = "Shapes C[M,N] = A[M,K] * B[K,N], or 'inference' (default: ${DEFAULT-VALUE}).")
    String[] shapes;

    @Option(names = "--threads", split = ",", description = "Thread counts (default: 1 and all cores).")
    int[] threads;

    @Option(names = "--runs", defaultValue = "15", description = "Timed runs per side; medians are reported (default: ${DEFAULT-VALUE}).")
    int runs;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the rows as JSON to FILE.")
    Path json;

    @picocli.CommandLine.Mixin PlotOption plot;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (runs < 1) throw new IllegalArgumentException("bench bf16: --runs must be >= 1, got " + runs);
        BenchElementwise.checkWritable(json);
        int all = Runtime.getRuntime().availableProcessors();
        int[] ts = threads != null ? threads : all > 1 ? new int[]{1, all} : new int[]{1};
        List<int[]> list = BenchGemm.parseShapes("bench bf16", shapes, spec);
        System.out.println("bench bf16: kernel " + Bf16Gemm.describe() + "; peer: Kiln f32 GEMM");
        List<BenchResult> rows = new ArrayList<>();
        java.util.Map<Integer, BenchPlot.Panel> panels = new java.util.LinkedHashMap<>();
        for (int t : ts) panels.put(t, new BenchPlot.Panel(BenchGemm.threadsLabel(t), "M x K x N", "GFLOP/s (higher is better)", BenchPlot.Style.BARS));
        int saved = CpuConfig.threads();
        try {
            for (int[] s : list)
                for (int t : ts) {
                    CpuConfig.setThreads(t);
                    BenchResult r = measure(s[0], s[1], s[2], t);
                    rows.add(r);
                    String x = s[0] + "x" + s[1] + "x" + s[2];
                    panels.get(t).add("Kiln bf16", x, r.kiln()).add("Kiln f32", x, r.peerValue());
                }
        } finally {
            CpuConfig.setThreads(saved);
        }
        BenchResult.printTable(rows);
        if (json != null) BenchResult.writeJson(json, rows);
        plot.write(spec.commandLine().getOut(), "kiln bench bf16: bf16 GEMM (" + Bf16Gemm.describe() + ") vs Kiln f32 GEMM",
                new ArrayList<>(panels.values()));
        return Main.OK;
    }

    private BenchResult measure(int m, int k, int n, int t) throws Exception {
        Generator g = new Generator(m + k + n);
        try (Tensor a = Tensor.uniform(g, -1, 1, DType.F32, m, k); Tensor w = Tensor.uniform(g, -1, 1, DType.F32, k, n);
             Tensor cb = Tensor.zeros(m, n); Tensor cf = Tensor.zeros(m, n); Bf16Gemm.Packed wp = Bf16Gemm.pack(w, false)) {
            Timing.Action bf = () -> Bf16Gemm.gemm(a, wp, cb);
            Timing.Action f32 = () -> Backends.cpu().gemm(false, false, 1.0, a, w, 0.0, cf);
            double flops = 2.0 * m * n * k;
            double[] sb = new double[runs], sf = new double[runs];
            for (int i = 0; i < 3; i++) { bf.run(); f32.run(); }
            for (int i = 0; i < runs; i++) {       // interleaved, each sample ~20 ms or one call
                sb[i] = flops / sample(bf) * 1e-9;
                sf[i] = flops / sample(f32) * 1e-9;
            }
            float[] x = cb.toFloatArray(), y = cf.toFloatArray();
            double err = 0, ref = 0;
            for (int i = 0; i < x.length; i++) {
                err = Math.max(err, Math.abs(x[i] - y[i]));
                ref = Math.max(ref, Math.abs(y[i]));
            }
            String name = String.format(Locale.ROOT, "bf16 %dx%dx%d t%d (rel.err %.1e)", m, k, n, t, err / ref);
            return new BenchResult(name, "GFLOP/s", Timing.median(sb), "Kiln f32", Timing.median(sf));
        }
    }

    /** Seconds per call, averaged over enough calls to last ~20 ms. */
    private static double sample(Timing.Action action) throws Exception {
        long t0 = System.nanoTime();
        int reps = 0;
        do {
            action.run();
            reps++;
        } while (System.nanoTime() - t0 < 20_000_000L);
        return (System.nanoTime() - t0) * 1e-9 / reps;
    }
}
