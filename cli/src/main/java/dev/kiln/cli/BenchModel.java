package dev.kiln.cli;

import dev.kiln.backend.cpu.Bf16Gemm;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;

/**
 * {@code kiln bench MODEL} (also {@code kiln bench model MODEL}): a latency benchmark of one
 * .onnx or .pt file, in the spirit of onnxruntime_perf_test. Load time; the first call, the mean
 * of the first ten calls (the JIT is still compiling) and, after the warm-up, p50/p90/p99 of the
 * timed calls and the throughput; peak RSS (VmHWM). {@code --compare ort} loads the same file in
 * ONNX Runtime (bench module, through {@link ModelPeer}) and runs the two interleaved in this
 * process, with the largest output difference. {@code --profile}: time per op type.
 */
@Command(name = "model", mixinStandardHelpOptions = true,
        description = "Latency of one model (.onnx, .pt or a SavedModel directory): kiln bench MODEL [--shape name=2x128] [--compare ort|tf] ...")
final class BenchModel implements Callable<Integer> {
    @Spec private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "The model file (.onnx, or .pt/.pth saved by torch.jit.save).")
    Path model;

    @Mixin ModelInputOptions feed;

    @Option(names = "--max-id", paramLabel = "N", description = "Generated token ids are in [0, N) (default: the rows of the table the input indexes).")
    Long maxId;

    @Option(names = "--threads", description = "Threads for Kiln (and the peer's intra-op pool) (default: all cores).")
    Integer threads;

    @Option(names = "--warmup", description = "Untimed calls before the timed ones, the first included (default ${DEFAULT-VALUE}).")
    int warmup = 10;

    @Option(names = "--iters", description = "Timed calls (default ${DEFAULT-VALUE}).")
    int iters = 30;

    @Option(names = "--profile", description = "After timing, run --iters more calls with per-op timing and print the table.")
    boolean profile;

    @Option(names = "--profile-shapes", description = "As --profile, with one row per op type and input shapes (e.g. each Conv shape of a CNN).")
    boolean profileShapes;

    @Option(names = "--compare", paramLabel = "PEER", description = "Run a peer engine side by side, interleaved: ort (ONNX Runtime, ONNX models) or tf (TensorFlow Java, SavedModels).")
    String compare;

    @Option(names = "--precision", paramLabel = "f32|bf16", description = "Matrix products with constant weights in f32 (default) or bf16 "
            + "(opt-in: 8 significant bits per input, f32 sums; ONNX models; --compare ort then shows the difference to f32).")
    String precision = "f32";

    @Option(names = "--signature", paramLabel = "KEY", description = "SavedModel directories: the signature to time (default: serving_default, or the only one).")
    String signature;

    @Option(names = "--seed", description = "Seed of the generated inputs (default ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
    Path json;

    @Mixin PlotOption plot;

    /** The timings of one engine. */
    static final class Side {
        final String name;
        double loadMs;
        final List<Double> warm = new ArrayList<>(), timed = new ArrayList<>();
        long rssKb = -1; // Kiln: peak after load + first call (before any peer); the peer: VmRSS growth over its load + first call

        Side(String name) { this.name = name; }

        double first() { return warm.get(0); }

        double meanFirstTen() {
            List<Double> all = new ArrayList<>(warm);
            all.addAll(timed);
            return all.subList(0, Math.min(10, all.size())).stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        }

        double pct(double p) {
            double[] s = timed.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            return s[Math.min(s.length - 1, (int) Math.ceil(p / 100 * s.length) - 1)];
        }
    }

    @Override
    public Integer call() throws Exception {
        String bad = warmup < 1 ? "--warmup must be >= 1" : iters < 1 ? "--iters must be >= 1" : threads != null && threads < 1 ? "--threads must be >= 1"
                : maxId != null && maxId < 1 ? "--max-id must be >= 1" : compare != null && !compare.equals("ort") && !compare.equals("tf") ? "--compare takes 'ort' or 'tf'"
                : precision.equals("bf16") && !model.toString().toLowerCase(Locale.ROOT).endsWith(".onnx") && !Files.isDirectory(model) ? "--precision bf16 needs an .onnx model or a SavedModel" : null;
        if (bad != null) throw new IllegalArgumentException("bench " + model + ": " + bad);
        OnnxExecutor.Precision prec;
        try {
            prec = CliChecks.precision(precision);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bench " + model + ": " + e.getMessage());
        }
        boolean dir = Files.isDirectory(model);
        if (!dir && !Files.isRegularFile(model)) throw new java.nio.file.NoSuchFileException(model.toString());
        if (compare != null && compare.equals("ort") && !model.toString().toLowerCase(Locale.ROOT).endsWith(".onnx"))
            throw new IllegalArgumentException("bench " + model + ": --compare ort needs an .onnx model");
        if (compare != null && compare.equals("tf") && !dir)
            throw new IllegalArgumentException("bench " + model + ": --compare tf needs a SavedModel directory");
        PrintWriter out = spec.commandLine().getOut();
        int saved = CpuConfig.threads();
        int t = threads != null ? threads : saved;
        CpuConfig.setThreads(t);
        ModelPeer.Session peer = null;
        List<Tensor> values = List.of();
        long t0 = System.nanoTime();
        try (BenchTarget kiln = BenchTarget.open(model, prec, signature)) {
            Side k = new Side("kiln"), o = null;
            k.loadMs = (System.nanoTime() - t0) / 1e6;
            values = feed.build(kiln, maxId, seed);
            kiln.prepare(values);
            LinkedHashMap<String, Tensor> kOut;
            try {
                kOut = timeCall(kiln, k.warm); // the first call: inputs the model rejects are bad input
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(model + ": " + Main.message(e), e);
            }
            closeAll(kOut);
            k.rssKb = procStatusKb("VmHWM:");
            if (compare != null) {
                ModelPeer p = loadPeer(compare);
                long rss0 = procStatusKb("VmRSS:");
                long p0 = System.nanoTime();
                peer = p.open(model, t, signature);
                o = new Side(peer.name());
                o.loadMs = (System.nanoTime() - p0) / 1e6;
                Map<String, Tensor> byName = new LinkedHashMap<>();
                for (int i = 0; i < values.size(); i++) byName.put(kiln.inputs().get(i).name(), values.get(i));
                peer.prepare(byName);
                timePeer(peer, o.warm);
                o.rssKb = procStatusKb("VmRSS:") - rss0;
            }
            for (int i = 1; i < warmup; i++) { // interleaved, like the timed calls
                closeAll(timeCall(kiln, k.warm));
                if (peer != null) timePeer(peer, o.warm);
            }
            for (int i = 0; i < iters; i++) {
                boolean peerFirst = peer != null && i % 2 == 1; // alternate who goes first
                if (peerFirst) timePeer(peer, o.timed);
                if (i == iters - 1) kOut = timeCall(kiln, k.timed);
                else closeAll(timeCall(kiln, k.timed));
                if (peer != null && !peerFirst) timePeer(peer, o.timed);
            }
            Map<String, double[]> diffs = new LinkedHashMap<>();
            try {
                if (peer != null) {
                    LinkedHashMap<String, Tensor> pOut = peer.lastOutputs();
                    try {
                        diffs = differences(kOut, pOut);
                    } finally {
                        closeAll(pOut);
                    }
                }
                String table = null;
                if (profile || profileShapes) {
                    kiln.profile(true, profileShapes);
                    for (int i = 0; i < iters; i++) closeAll(kiln.run());
                    table = kiln.profileTable();
                    kiln.profile(false, false);
                }
                long hwm = procStatusKb("VmHWM:");
                report(out, kiln, values, k, o, diffs, table, hwm, t);
                if (json != null) BenchModelJson.write(json, model, kiln, values, k, o, diffs, hwm, t, iters, warmup);
                if (plot.wanted()) plot.write(out, "kiln bench " + model.getFileName() + ": latency per call (lower is better)",
                        List.of(latencyPanel(kiln, values, k, o, t)));
            } finally {
                closeAll(kOut);
            }
        } finally {
            if (peer != null) peer.close();
            values.forEach(Tensor::close);
            CpuConfig.setThreads(saved);
        }
        return Main.OK;
    }

    private static LinkedHashMap<String, Tensor> timeCall(BenchTarget kiln, List<Double> into) {
        long s = System.nanoTime();
        LinkedHashMap<String, Tensor> out = kiln.run();
        into.add((System.nanoTime() - s) / 1e6);
        return out;
    }

    private static void timePeer(ModelPeer.Session peer, List<Double> into) throws Exception {
        long s = System.nanoTime();
        peer.run();
        into.add((System.nanoTime() - s) / 1e6);
    }

    private static void closeAll(Map<String, Tensor> m) { if (m != null) m.values().forEach(Tensor::close); }

    static ModelPeer loadPeer(String key) {
        for (ModelPeer p : ServiceLoader.load(ModelPeer.class)) if (p.key().equals(key)) return p;
        throw new UnsupportedOperationException("--compare " + key + ": no such peer on the class path (ONNX Runtime comes with the bench module, "
                + "TensorFlow with bench/tf-peer, which ./kiln builds when asked for --compare tf: run through ./kiln)");
    }

    /** Per output name: {max |kiln - peer|, max |peer|}; a shape mismatch is an error. */
    static Map<String, double[]> differences(Map<String, Tensor> kiln, Map<String, Tensor> peer) {
        Map<String, double[]> out = new LinkedHashMap<>();
        for (var e : peer.entrySet()) {
            Tensor a = kiln.get(e.getKey()), b = e.getValue();
            if (a == null) throw new IllegalStateException("output '" + e.getKey() + "' of the peer is missing from Kiln's outputs " + kiln.keySet());
            if (!Arrays.equals(a.shape(), b.shape()))
                throw new IllegalStateException("output '" + e.getKey() + "': Kiln's shape " + Arrays.toString(a.shape()) + " vs the peer's " + Arrays.toString(b.shape()));
            double max = 0, ref = 0;
            long n = a.numel();
            for (long i = 0; i < n; i++) {
                double x = a.getFlat(i), y = b.getFlat(i);
                double d = Math.abs(x - y);
                if (Double.isNaN(d) && !(Double.isNaN(x) && Double.isNaN(y))) d = Double.POSITIVE_INFINITY;
                if (d > max) max = d;
                if (Math.abs(y) > ref) ref = Math.abs(y);
            }
            out.put(e.getKey(), new double[]{max, ref});
        }
        return out;
    }

    /** A kB figure of /proc/self/status (VmHWM: peak resident set, VmRSS: resident now), or -1 where there is none. */
    static long procStatusKb(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith(key)) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** The chart: p50 and p90 latency bars of Kiln and the peer side by side. */
    private BenchPlot.Panel latencyPanel(BenchTarget kiln, List<Tensor> values, Side k, Side o, int t) {
        StringBuilder in = new StringBuilder();
        for (int i = 0; i < values.size(); i++)
            in.append(i == 0 ? "" : ", ").append(kiln.inputs().get(i).name()).append(' ').append(BenchInputs.shapeText(values.get(i).shape()));
        BenchPlot.Panel p = new BenchPlot.Panel(String.format(Locale.ROOT, "%s; %s; %d timed calls", in, BenchGemm.threadsLabel(t), iters),
                "percentile of the timed calls", "ms per call", BenchPlot.Style.BARS);
        for (Side s : o == null ? List.of(k) : List.of(k, o)) {
            String engine = s == k ? "Kiln" : s.name;
            p.add(engine, "p50", s.pct(50)).add(engine, "p90", s.pct(90));
        }
        return p;
    }

    private void report(PrintWriter out, BenchTarget kiln, List<Tensor> values, Side k, Side o, Map<String, double[]> diffs,
                        String table, long hwmKb, int t) {
        StringBuilder in = new StringBuilder();
        for (int i = 0; i < values.size(); i++)
            in.append(i == 0 ? "" : ", ").append(kiln.inputs().get(i).name()).append(' ').append(values.get(i).dtype().pyName())
                    .append(' ').append(BenchInputs.shapeText(values.get(i).shape()));
        out.printf(Locale.ROOT, "%s (%s), inputs: %s%n", model, kiln.format(), in);
        out.printf(Locale.ROOT, "threads %d, warm-up %d calls, %d timed calls%s%s%n", t, warmup, iters,
                o == null ? "" : ", interleaved with " + o.name,
                precision.equals("bf16") ? "; Kiln's constant-weight matrix products in bf16 (" + Bf16Gemm.describe() + ")" : "");
        out.printf(Locale.ROOT, "%-22s %10s %10s %10s %10s %10s %10s %12s%n", "engine", "load ms", "first ms", "first10 ms",
                "p50 ms", "p90 ms", "p99 ms", "samples/s");
        int batch = values.isEmpty() || values.get(0).dim() == 0 ? 1 : values.get(0).shape()[0];
        for (Side s : o == null ? List.of(k) : List.of(k, o))
            out.printf(Locale.ROOT, "%-22s %10.1f %10.2f %10.2f %10.2f %10.2f %10.2f %12.1f%n", s.name, s.loadMs, s.first(), s.meanFirstTen(),
                    s.pct(50), s.pct(90), s.pct(99), batch * 1000 / s.pct(50));
        if (o != null) {
            out.printf(Locale.ROOT, "kiln/%s p50 latency: %.2f%n", o.name.split(" ")[0], k.pct(50) / o.pct(50));
            for (var e : diffs.entrySet())
                out.printf(Locale.ROOT, "output %s: max |kiln - peer| %.3g (max |peer| %.3g)%n", e.getKey(), e.getValue()[0], e.getValue()[1]);
        }
        out.printf(Locale.ROOT, "peak RSS (VmHWM): %.1f MB after Kiln's load and first call, %.1f MB at the end%s%n", k.rssKb / 1024.0,
                hwmKb / 1024.0, o == null ? "" : String.format(Locale.ROOT, " (%s's load and first call added %.1f MB resident)", o.name, o.rssKb / 1024.0));
        if (table != null) out.print("per-op profile over " + iters + " calls:\n" + table);
    }
}
