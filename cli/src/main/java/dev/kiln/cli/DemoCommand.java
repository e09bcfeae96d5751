package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code kiln demo}: Kiln's main job on embedded data, through the public Tensor API only. A
 * two-layer MLP forward pass (matmul, add, relu, softmax, argmax) over a batch, square GEMMs,
 * elementwise ops and reductions; every result is checked against a float64 reference computed
 * here, and a table of timings and throughputs is printed. Exit 1 if any check fails.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run Kiln's main job on embedded data and print a checked results table.",
                "An MLP forward pass, GEMM n=256/512/1024, elementwise ops and reductions, each",
                "checked against a float64 reference computed in plain Java. Exit 1 if a check fails."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--quick", description = "Small sizes (about a second); used by the tests.")
    boolean quick;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the embedded random data (default: ${DEFAULT-VALUE}).")
    long seed;

    @Spec private CommandSpec spec;

    /**
     * Problem sizes of one demo run, and how its kernel rows are timed: at least warmup untimed
     * runs and warmupS seconds of them (the JIT compiles the kernels), then the median of at most
     * maxRuns timed runs within budgetS seconds.
     */
    record Sizes(int batch, int in, int hidden, int classes, int[] gemm, int rows, int cols, int warmup, double warmupS, int maxRuns, double budgetS) {}

    static final Sizes FULL = new Sizes(512, 784, 512, 10, new int[]{256, 512, 1024}, 4096, 1024, 5, 0.3, 11, 0.5);
    static final Sizes QUICK = new Sizes(64, 128, 64, 10, new int[]{64, 128}, 256, 256, 2, 0, 3, 0.1);

    private final List<String> failures = new ArrayList<>();
    private int checks;
    private ResultTable table;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Sizes z = quick ? QUICK : FULL;
        out.printf(Locale.ROOT, "Kiln demo: CPU backend, %d threads, %s; seed %d%s%n", CpuConfig.threads(),
                CpuConfig.scalar() ? "scalar kernels" : "Vector API " + CpuConfig.F32.vectorBitSize() + "-bit",
                seed, quick ? " (quick)" : "");
        out.flush();
        long t0 = System.nanoTime();
        table = new ResultTable("stage", "work", "shape", "time ms", "rate", "check").alignRight(3, 4);
        Generator g = new Generator(seed);
        String classes = mlp(g, z);
        for (int n : z.gemm) gemm(g, n, z);
        elementwise(g, z);
        reductions(g, z);
        String data = train(z);
        table.print(out);
        out.printf(Locale.ROOT, "kernel times: median of up to %d runs after %d or more untimed warm-up runs%n", z.maxRuns, z.warmup);
        out.println(data);
        out.println("mlp predicted classes (class:count): " + classes);
        double total = (System.nanoTime() - t0) * 1e-9;
        if (failures.isEmpty()) {
            out.printf(Locale.ROOT, "all %d checks passed in %.1f s%n", checks, total);
            out.print(NEXT);
            out.flush();
            return Main.OK;
        }
        out.flush();
        PrintWriter err = spec.commandLine().getErr();
        err.println("kiln: demo: " + failures.size() + " of " + checks + " checks failed: " + String.join("; ", failures));
        err.flush();
        return Main.FAILURE;
    }

    /** What to try after the demo, and where the documentation is (printed last). */
    static final String NEXT = """

            Try next:
              ./kiln bench gemm --plot gemm.png          Kiln's GEMM vs OpenBLAS in GFLOP/s, and a chart of it
              ./kiln bench elementwise                   add/mul/exp/sum/softmax in GB/s vs a memory copy
              ./kiln bench MODEL.onnx --compare ort      a model's latency beside ONNX Runtime's (same file, same process)
              ./kiln train --epochs 3 --plot train.png   train the MLP on Fashion-MNIST; loss and accuracy per epoch
              ./kiln lab --list                          the kernel lab: each kernel's variants validated, then timed
              ./kiln --help                              every command
            Docs: README.md, docs/ARCHITECTURE.md (how the engine is built), docs/BENCHMARKS.md (measurements), docs/KERNEL_LAB.md
            """;

    /** Median seconds of a warm kernel: untimed runs first (see {@link Sizes}), then timed ones. */
    private static double warmSeconds(Timing.Action action, Sizes z) throws Exception {
        long end = System.nanoTime() + (long) (z.warmupS * 1e9);
        for (int i = 0; i < z.warmup || System.nanoTime() < end; i++) action.run();
        return Timing.medianSeconds(action, 0, z.maxRuns, z.budgetS);
    }

    // ------------------------------------------------------------------ MLP forward pass

    /** softmax(relu(x w1 + b1) w2 + b2) over a batch and its argmax; returns the class histogram. */
    private String mlp(Generator g, Sizes z) throws Exception {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(g, z.batch, z.in);
            Tensor w1 = Tensor.randn(g, z.in, z.hidden).mul(Math.sqrt(2.0 / z.in));
            Tensor b1 = Tensor.uniform(g, -0.1, 0.1, DType.F32, z.hidden);
            Tensor w2 = Tensor.randn(g, z.hidden, z.classes).mul(Math.sqrt(1.0 / z.hidden));
            Tensor b2 = Tensor.uniform(g, -0.1, 0.1, DType.F32, z.classes);
            double t = warmSeconds(() -> {
                try (Scope r = Scope.open()) { forward(x, w1, b1, w2, b2).argmax(1, false); }
            }, z);
            Tensor p = forward(x, w1, b1, w2, b2);
            long[] pred = p.argmax(1, false).toLongArray();
            float[] probs = p.toFloatArray();
            double flops = 2.0 * z.batch * ((double) z.in * z.hidden + (double) z.hidden * z.classes);
            String work = z.in + "-" + z.hidden + "-" + z.classes + " MLP: matmul+add+relu, matmul+add, softmax, argmax";
            table.add("mlp forward", work, "x[" + z.batch + "," + z.in + "]", ms(t), rate(flops / t, "GFLOP/s"),
                    checkMlp(x, w1, b1, w2, b2, probs, pred, z));
            double rowSumErr = maxAbsDiff(p.sum(1).toFloatArray(), 1.0);
            table.add("", "softmax rows sum to 1 (sum over axis 1)", "p[" + z.batch + "," + z.classes + "]", "", "",
                    check("mlp softmax row sums", rowSumErr, 1e-5));
            return histogram(pred, z.classes);
        }
    }

    static Tensor forward(Tensor x, Tensor w1, Tensor b1, Tensor w2, Tensor b2) {
        try (Scope s = Scope.open()) {
            Tensor h = x.matmul(w1).add(b1).relu();
            return s.keep(h.matmul(w2).add(b2).softmax(1));
        }
    }

    /** Compares the first rows' probabilities with a float64 forward pass, and argmax with the probabilities. */
    private String checkMlp(Tensor x, Tensor w1, Tensor b1, Tensor w2, Tensor b2, float[] probs, long[] pred, Sizes z) {
        float[] xa = x.toFloatArray(), w1a = w1.toFloatArray(), b1a = b1.toFloatArray(), w2a = w2.toFloatArray(), b2a = b2.toFloatArray();
        int rows = Math.min(z.batch, 16), c = z.classes;
        double err = 0;
        for (int r = 0; r < rows; r++) {
            double[] ref = Reference.mlpRow(xa, r, w1a, b1a, w2a, b2a, z.in, z.hidden, c);
            for (int j = 0; j < c; j++) err = Math.max(err, Math.abs(ref[j] - probs[r * c + j]));
        }
        int wrongArgmax = 0;
        for (int r = 0; r < z.batch; r++)
            if (pred[r] != Reference.argmax(probs, r * c, c)) wrongArgmax++;
        checks++;
        if (wrongArgmax > 0) failures.add("mlp argmax: " + wrongArgmax + " rows disagree with the probabilities");
        return check("mlp probabilities vs f64 (" + rows + " rows)", err, 1e-4) + (wrongArgmax > 0 ? ", argmax WRONG" : ", argmax ok");
    }

    private static String histogram(long[] pred, int classes) {
        int[] h = new int[classes];
        for (long p : pred) h[(int) p]++;
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < classes; k++) sb.append(k == 0 ? "" : " ").append(k).append(':').append(h[k]);
        return sb.toString();
    }

    // ------------------------------------------------------------------ GEMM

    private void gemm(Generator g, int n, Sizes z) throws Exception {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.uniform(g, -1, 1, DType.F32, n, n);
            Tensor b = Tensor.uniform(g, -1, 1, DType.F32, n, n);
            double t = warmSeconds(() -> a.matmul(b).close(), z);
            float[] c = a.matmul(b).toFloatArray();
            double err = Reference.gemmSampleError(a.toFloatArray(), b.toFloatArray(), c, n, 64, g);
            table.add("gemm", "c = a.matmul(b), f32", n + "x" + n + "x" + n, ms(t), rate(2.0 * n * n * n / t, "GFLOP/s"),
                    check("gemm n=" + n + " vs f64 (64 entries)", err, 1e-6 * n));
        }
    }

    // ------------------------------------------------------------------ elementwise and reductions

    private void elementwise(Generator g, Sizes z) throws Exception {
        int n = z.rows * z.cols;
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.uniform(g, -2, 2, DType.F32, n);
            Tensor b = Tensor.uniform(g, -2, 2, DType.F32, n);
            float[] av = a.toFloatArray(), bv = b.toFloatArray();
            for (String op : new String[]{"add", "mul", "exp", "relu"}) {
                boolean binary = op.equals("add") || op.equals("mul");
                double t = warmSeconds(() -> apply(op, a, b).close(), z);
                double err = Reference.elementwiseError(op, av, bv, apply(op, a, b).toFloatArray());
                double bytes = (binary ? 12.0 : 8.0) * n;
                String expr = binary ? "a." + op + "(b)" : "a." + op + "()";
                table.add("elementwise", expr + ", f32, output allocated", "[" + n + "]", ms(t), rate(bytes / t, "GB/s"),
                        check(op + " vs f64", err, 1e-6));
            }
        }
    }

    /** One elementwise op through the public API (allocates its output). */
    private static Tensor apply(String op, Tensor a, Tensor b) {
        return switch (op) {
            case "add" -> a.add(b);
            case "mul" -> a.mul(b);
            case "exp" -> a.exp();
            case "relu" -> a.relu();
            default -> throw new IllegalArgumentException("demo: unknown op " + op);
        };
    }

    private void reductions(Generator g, Sizes z) throws Exception {
        int n = z.rows * z.cols;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.uniform(g, 0, 1, DType.F32, z.rows, z.cols);
            float[] xv = x.toFloatArray();
            String shape = "[" + z.rows + "," + z.cols + "]";
            double t = warmSeconds(() -> x.sum().close(), z);
            double ref = Reference.sum(xv, 0, n);
            table.add("reduction", "x.sum(), all elements", shape, ms(t), rate(4.0 * n / t, "GB/s"),
                    check("sum vs f64 (rel)", Math.abs(x.sum().item() - ref) / ref, 1e-5));
            t = warmSeconds(() -> x.sum(1).close(), z);
            table.add("reduction", "x.sum(1), per row", shape, ms(t), rate(4.0 * n / t, "GB/s"),
                    check("row sums vs f64 (rel)", Reference.rowSumError(xv, x.sum(1).toFloatArray(), z.rows, z.cols), 1e-5));
            t = warmSeconds(() -> x.softmax(1).close(), z);
            table.add("reduction", "x.softmax(1), per row", shape, ms(t), rate(8.0 * n / t, "GB/s"),
                    check("softmax vs f64", Reference.softmaxError(xv, x.softmax(1).toFloatArray(), z.rows, z.cols), 1e-6));
        }
    }

    // ------------------------------------------------------------------ formatting and checks

    // ------------------------------------------------------------------ training

    /**
     * Trains the standard MLP with SGD-momentum on Fashion-MNIST (the embedded subset when the
     * Debian package is absent, or with --quick) and checks that it learned; returns a data note.
     */
    private String train(Sizes z) {
        boolean real = !quick && dev.kiln.data.FashionMnist.available();
        int epochs = quick ? 1 : 2;
        try (var train = real ? dev.kiln.data.FashionMnist.load(dev.kiln.data.FashionMnist.defaultDir(), true) : dev.kiln.data.FashionMnist.embedded(true);
             var test = real ? dev.kiln.data.FashionMnist.load(dev.kiln.data.FashionMnist.defaultDir(), false) : dev.kiln.data.FashionMnist.embedded(false);
             var model = dev.kiln.train.Models.mlp(new Generator(seed));
             var opt = new dev.kiln.optim.SGD(model.parameters(), 0.05, 0.9, 0, 0, false);
             var loader = dev.kiln.data.DataLoader.builder(train).batchSize(64).shuffle(seed).build();
             var testLoader = dev.kiln.data.DataLoader.builder(test).batchSize(1000).build()) {
            var trainer = new dev.kiln.train.Trainer(model, opt, 1);
            String shape = "mlp 784-256-128-10, batch 64";
            for (int e = 0; e < epochs; e++) {
                var st = trainer.trainEpoch(loader, null);
                table.add("train", "epoch " + (e + 1) + ", SGD momentum 0.9, loss " + String.format(Locale.ROOT, "%.4f", st.meanLoss()),
                        shape, ms(st.seconds()), String.format(Locale.ROOT, "%.0f samples/s", st.samplesPerSecond()), "");
            }
            double acc = dev.kiln.train.Trainer.accuracy(model, testLoader);
            double want = real ? 0.80 : 0.60;
            table.add("evaluate", "test accuracy " + String.format(Locale.ROOT, "%.4f", acc), test.size() + " images", "", "",
                    checkTrue(String.format(Locale.ROOT, "test accuracy %.4f >= %.2f", acc, want), acc >= want));
            double prunedAcc = prune(model, opt, loader, testLoader, acc, real, z);
            quantize(model, train, testLoader, prunedAcc, real, z);
            return real ? "data: Fashion-MNIST (" + train.size() + " train / " + test.size() + " test images)"
                    : "data: embedded Fashion-MNIST subset (" + train.size() + " train / " + test.size() + " test images)"
                    + (quick ? "" : "; apt-get install dataset-fashion-mnist for the full set");
        }
    }

    /**
     * Prunes the trained MLP to 90% zeros by magnitude, fine-tunes one epoch with the mask enforced,
     * and compares accuracy and batch-64 latency with the dense model: each pruned layer runs the
     * kernel (dense, CSR, BSR) measured fastest on it at batch 64, the two models are timed
     * alternately on the same batch, and the demo prints the timings. The accuracy may drop at most 2 points (5 on the subset).
     */
    private double prune(dev.kiln.nn.Sequential model, dev.kiln.optim.Optimizer opt, dev.kiln.data.DataLoader loader,
                       dev.kiln.data.DataLoader testLoader, double denseAcc, boolean real, Sizes z) {
        String shape = "mlp, 90% of weights zeroed";
        try (Tensor x = Tensor.randn(new Generator(seed), 64, 784)) {
            try (var masks = dev.kiln.compress.prune.Pruner.magnitude(model, 0.9, false)) {
                double pruned = dev.kiln.train.Trainer.accuracy(model, testLoader);
                table.add("prune", "magnitude 90%, test accuracy " + String.format(Locale.ROOT, "%.4f", pruned), shape, "", "", "");
                var st = new dev.kiln.train.Trainer(model, new dev.kiln.compress.prune.MaskedOptimizer(opt, masks), 1).trainEpoch(loader, null);
                double acc = dev.kiln.train.Trainer.accuracy(model, testLoader);
                double maxDrop = real ? 0.02 : 0.05;
                table.add("fine-tune", "1 epoch, mask kept, test accuracy " + String.format(Locale.ROOT, "%.4f", acc), shape, ms(st.seconds()), "",
                        checkTrue(String.format(Locale.ROOT, "pruned accuracy %.4f within %.0f pt of dense %.4f", acc, 100 * maxDrop, denseAcc),
                                acc >= denseAcc - maxDrop && Math.abs(masks.sparsity() - 0.9) < 1e-3));
                try (var fast = dev.kiln.compress.sparse.SparseInference.of(model)) {
                    // the same weights through the dense kernels and through each layer's chosen kernel, timed alternately
                    double[] pair = CompressSupport.latencyPair(model, fast, x, 2 * z.budgetS);
                    double denseS = pair[0], sparseS = pair[1];
                    table.add("compare", "batch-64 latency: dense " + ms(denseS) + " ms, pruned (kernels per layer below) "
                                    + ms(sparseS) + " ms", "kernels " + fast.kernels(64), ms(sparseS), String.format(Locale.ROOT, "%.2fx dense", denseS / sparseS), "");
                    for (String why : fast.reasons(64)) table.add("kernel", "layer " + why, shape, "", "", "");
                }
                return acc;
            }
        } catch (Exception e) {
            throw new IllegalStateException("demo: prune step failed: " + e.getMessage(), e);
        }
    }

    /**
     * Static int8 quantization of the (pruned) MLP, calibrated on 4 training batches: accuracy
     * within 1 point of fp32 (3 on the subset) and weights about 4x smaller.
     */
    private void quantize(dev.kiln.nn.Sequential model, dev.kiln.data.TensorDataset train, dev.kiln.data.DataLoader testLoader,
                          double fp32Acc, boolean real, Sizes z) {
        java.util.List<Tensor> calib = new java.util.ArrayList<>();
        for (int i = 0; i < Math.min(4, train.size() / 128); i++) calib.add(train.features().narrow(0, i * 128, 128));
        try (var int8 = dev.kiln.compress.quant.Quantize.staticPtq(model, calib, dev.kiln.compress.quant.Observer.Kind.MINMAX);
             Tensor x = Tensor.randn(new Generator(seed), 64, 784)) {
            double acc = dev.kiln.train.Trainer.accuracy(int8, testLoader);
            double maxDrop = real ? 0.01 : 0.03;
            long fp32Bytes = QuantizeCommand.weightBytes(model), int8Bytes = QuantizeCommand.weightBytes(int8);
            double s = CompressSupport.latency(int8, x, z.budgetS);
            table.add("quantize", "static int8 (min-max, 4 batches), test accuracy " + String.format(Locale.ROOT, "%.4f", acc),
                    String.format(Locale.ROOT, "weights %,d -> %,d bytes", fp32Bytes, int8Bytes), ms(s), "",
                    checkTrue(String.format(Locale.ROOT, "int8 accuracy %.4f within %.0f pt of fp32 %.4f", acc, 100 * maxDrop, fp32Acc),
                            acc >= fp32Acc - maxDrop && int8Bytes * 3.5 < fp32Bytes));
        } catch (Exception e) {
            throw new IllegalStateException("demo: quantize step failed: " + e.getMessage(), e);
        } finally {
            calib.forEach(Tensor::close);
        }
    }

    /** Records a pass/fail check and returns its table cell. */
    private String checkTrue(String what, boolean ok) {
        checks++;
        if (!ok) failures.add(what + ": no");
        return ok ? "ok" : "FAILED";
    }

    /** Records a check (err <= tol) and returns its table cell. */
    private String check(String what, double err, double tol) {
        checks++;
        boolean ok = err <= tol; // NaN fails
        if (!ok) failures.add(String.format(Locale.ROOT, "%s: error %.3g > %.3g", what, err, tol));
        return String.format(Locale.ROOT, "%s (err %.1e)", ok ? "ok" : "FAILED", err);
    }

    private static double maxAbsDiff(float[] v, double target) {
        double e = 0;
        for (float f : v) e = Math.max(e, Math.abs(f - target));
        return v.length == 0 ? Double.NaN : e;
    }

    private static String ms(double seconds) {
        double ms = seconds * 1e3;
        return String.format(Locale.ROOT, ms < 10 ? "%.3f" : "%.1f", ms);
    }

    private static String rate(double perSecond, String unit) {
        return String.format(Locale.ROOT, "%.1f %s", perSecond * 1e-9, unit);
    }
}
