package dev.kiln.bench.onnx;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Side-by-side ONNX inference latency: Kiln's OnnxExecutor against ONNX Runtime (CPU EP), same
 * model file, same input, same thread count, measured in the same run with the two engines
 * interleaved (one call of each per round) so machine noise hits both alike. Per model and batch
 * size it warms both up, times {@code --iters} rounds and prints median latency (ms), the 10-90%
 * range and the ratio Kiln/ORT of the medians, plus the largest output difference as a sanity
 * check. The model's first input's dim 0 is the batch axis (as in tools/make_model_fixtures.py).
 * <pre>
 * usage: OnnxInferenceBench [--batch 1,64] [--threads 2] [--warmup-ms 2000] [--iters 50] [--ort-only] [--ort-spin] MODEL.onnx...
 * </pre>
 * See bench/README.md ("ONNX inference vs ONNX Runtime") for the models and the java command.
 */
public final class OnnxInferenceBench {
    record Options(List<Path> models, int[] batches, int threads, long warmupMs, int iters, boolean ortOnly, boolean ortSpin) {}

    /** One case; kiln is null when skipped or failed (kilnError then says why). */
    record Row(String model, int batch, Stats ort, Stats kiln, double maxRelDiff, String kilnError) {}

    private OnnxInferenceBench() {}

    public static void main(String[] args) throws Exception {
        Options o = parse(args);
        // Kiln's CPU backend reads its worker count once, at class initialization: set it first.
        System.setProperty("kiln.cpu.threads", Integer.toString(o.threads()));
        System.out.printf(Locale.ROOT, "threads %d, warm-up %d ms, %d timed rounds per case%n", o.threads(), o.warmupMs(), o.iters());
        System.out.printf(Locale.ROOT, "%-28s %5s %12s %18s %12s %18s %8s %10s%n", "model", "batch", "ort ms", "ort p10-p90",
                "kiln ms", "kiln p10-p90", "kiln/ort", "max diff");
        for (Path model : o.models())
            for (int batch : o.batches()) print(measure(model, batch, o));
    }

    private static Row measure(Path model, int batch, Options o) throws Exception {
        try (OrtEngine ort = new OrtEngine(model, o.threads(), o.ortSpin())) {
            long[] shape = ort.inputShape();
            shape[0] = batch;
            for (int k = 1; k < shape.length; k++)
                if (shape[k] < 0) throw new IllegalArgumentException(model + ": input dim " + k + " is symbolic; only dim 0 (batch) may be");
            float[] x = randomInput(shape);
            InferenceEngine kiln = null;
            double diff = Double.NaN;
            String kilnError = o.ortOnly() ? "skipped (--ort-only)" : null;
            try {
                if (!o.ortOnly()) {
                    kiln = kiln(model);
                    diff = maxRelDiff(kiln.run(x, shape), ort.run(x, shape));
                }
            } catch (Exception | LinkageError e) {
                kilnError = e.getClass().getSimpleName() + ": " + e.getMessage();
                if (kiln != null) kiln.close();
                kiln = null;
            }
            try {
                return timed(model, batch, o, ort, kiln, x, shape, diff, kilnError);
            } finally {
                if (kiln != null) kiln.close();
            }
        }
    }

    private static Row timed(Path model, int batch, Options o, InferenceEngine ort, InferenceEngine kiln, float[] x, long[] shape,
                             double diff, String kilnError) throws Exception {
        warmUp(ort, kiln, x, shape, o.warmupMs());
        long[] tOrt = new long[o.iters()], tKiln = new long[o.iters()];
        for (int r = 0; r < o.iters(); r++) {
            tOrt[r] = time(ort, x, shape);
            if (kiln != null) tKiln[r] = time(kiln, x, shape);
        }
        return new Row(model.getFileName().toString(), batch, Stats.of(tOrt), kiln == null ? null : Stats.of(tKiln), diff, kilnError);
    }

    /**
     * The Kiln side. TODO(onnx-core): this needs dev.kiln.onnx.OnnxExecutor / OnnxReader (branch
     * h-core); until they are on main, see KilnEngine's header for how to enable it.
     */
    private static InferenceEngine kiln(Path model) throws Exception { return new KilnEngine(model); }

    private static void warmUp(InferenceEngine a, InferenceEngine b, float[] x, long[] shape, long ms) throws Exception {
        long end = System.nanoTime() + ms * 1_000_000;
        do {
            a.run(x, shape);
            if (b != null) b.run(x, shape);
        } while (System.nanoTime() < end);
    }

    private static long time(InferenceEngine e, float[] x, long[] shape) throws Exception {
        long t0 = System.nanoTime();
        float[] y = e.run(x, shape);
        long t = System.nanoTime() - t0;
        if (y.length == 0) throw new IllegalStateException(e.name() + " returned no output");
        return t;
    }

    private static float[] randomInput(long[] shape) {
        long n = Arrays.stream(shape).reduce(1, (p, q) -> p * q);
        SplittableRandom rng = new SplittableRandom(42);
        float[] x = new float[Math.toIntExact(n)];
        for (int k = 0; k < x.length; k++) x[k] = (float) (rng.nextDouble() * 2 - 1);
        return x;
    }

    /** max |a - b| / max |b|: a scale-free agreement check of the two outputs. */
    private static double maxRelDiff(float[] a, float[] b) {
        if (a.length != b.length) return Double.POSITIVE_INFINITY;
        double scale = 1e-30, worst = 0;
        for (float v : b) scale = Math.max(scale, Math.abs(v));
        for (int k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]));
        return worst / scale;
    }

    private static void print(Row r) {
        String kiln = r.kiln() == null ? "-" : String.format(Locale.ROOT, "%.3f", r.kiln().median());
        String kilnRange = r.kiln() == null ? "-" : r.kiln().range();
        String ratio = r.kiln() == null ? "-" : String.format(Locale.ROOT, "%.2f", r.kiln().median() / r.ort().median());
        System.out.printf(Locale.ROOT, "%-28s %5d %12.3f %18s %12s %18s %8s %10.1e%n", r.model(), r.batch(), r.ort().median(),
                r.ort().range(), kiln, kilnRange, ratio, r.maxRelDiff());
        if (r.kilnError() != null) {
            String e = r.kilnError();
            System.out.println("    kiln: " + (e.length() > 200 ? e.substring(0, 200) + "..." : e));
        }
    }

    private static Options parse(String[] args) {
        List<Path> models = new ArrayList<>();
        int[] batches = {1, 64};
        int threads = 2, iters = 50;
        long warmup = 2000;
        boolean ortOnly = false, ortSpin = false;
        for (int k = 0; k < args.length; k++) {
            switch (args[k]) {
                case "--batch" -> batches = Arrays.stream(args[++k].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--threads" -> threads = Integer.parseInt(args[++k]);
                case "--warmup-ms" -> warmup = Long.parseLong(args[++k]);
                case "--iters" -> iters = Integer.parseInt(args[++k]);
                case "--ort-only" -> ortOnly = true;
                case "--ort-spin" -> ortSpin = true;
                default -> {
                    Path p = Path.of(args[k]);
                    if (!Files.isRegularFile(p)) throw new IllegalArgumentException("no model file " + p);
                    models.add(p);
                }
            }
        }
        if (models.isEmpty()) throw new IllegalArgumentException("usage: OnnxInferenceBench [--batch 1,64] [--threads 2] "
                + "[--warmup-ms 2000] [--iters 50] [--ort-only] [--ort-spin] MODEL.onnx...");
        return new Options(models, batches, threads, warmup, iters, ortOnly, ortSpin);
    }

    /** Median and 10th/90th percentiles of per-call times, in milliseconds. */
    record Stats(double median, double p10, double p90) {
        static Stats of(long[] nanos) {
            long[] s = nanos.clone();
            Arrays.sort(s);
            return new Stats(at(s, 0.5), at(s, 0.1), at(s, 0.9));
        }

        private static double at(long[] sorted, double q) { return sorted[(int) Math.round(q * (sorted.length - 1))] / 1e6; }

        String range() { return String.format(Locale.ROOT, "%.3f-%.3f", p10, p90); }
    }
}
