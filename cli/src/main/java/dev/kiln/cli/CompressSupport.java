package dev.kiln.cli;

import dev.kiln.autograd.GradMode;
import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.data.FashionMnist;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Module;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;

import java.nio.file.Path;

/** Shared by `kiln prune`, `distill` and `fuse`: model loading and inference latency (data: {@link FashionData}). */
final class CompressSupport {
    private CompressSupport() {}

    /**
     * The model of a checkpoint with its weights, in eval mode: rebuilt from the architecture in
     * its metadata when it carries one (a pruned or fused model, see {@link ModelCheckpoint}), else
     * the model named in its metadata (as {@code kiln train --save} records it), else the one named
     * by the caller's option (null when not given). The file is checked by content first
     * ({@link CliChecks#requireCheckpoint}); command names it in errors ("quantize").
     *
     * @param option the option naming the architecture, for messages ("--model")
     */
    static Module loadModel(String command, String option, String name, Path checkpoint) throws java.io.IOException {
        CliChecks.requireCheckpoint(command, checkpoint);
        if (ModelCheckpoint.hasArchitecture(checkpoint)) {
            Module m = ModelCheckpoint.load(checkpoint).model();
            m.eval();
            return m;
        }
        String recorded = ModelCheckpoint.metadata(checkpoint).get(ModelCheckpoint.MODEL_KEY);
        if (name != null && recorded != null && !name.equals(recorded))
            throw new IllegalArgumentException(command + ": " + checkpoint + " holds a '" + recorded + "' model, not " + option + " " + name);
        if (name == null) name = recorded;
        if (name == null)
            throw new IllegalArgumentException(command + ": " + checkpoint + " does not record its model; give " + option + " (one of " + Models.NAMES + ")");
        if (!Models.NAMES.contains(name))
            throw new IllegalArgumentException(command + ": unknown model '" + name + "' (expected one of " + Models.NAMES + ")");
        Module m = Models.byName(name, new dev.kiln.tensor.Generator(0));
        try {
            Checkpoint.load(checkpoint, m, null);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        m.eval();
        return m;
    }

    /** Median seconds of one eval-mode forward of the first batch rows of data (no graph), timed for about budgetS. */
    static double latency(Module m, TensorDataset data, int batch, double budgetS) throws Exception {
        try (Tensor x = data.features().narrow(0, 0, batch).contiguous()) {
            return latency(m, x, budgetS);
        }
    }

    /**
     * Median seconds of one eval-mode forward of x (no graph): a warm-up of half the budget (at
     * least 20 runs, so the first model measured is not penalized by JIT compilation), then timed
     * runs for about the other half.
     */
    static double latency(Module m, Tensor x, double budgetS) throws Exception {
        boolean was = m.isTraining();
        m.eval();
        Timing.Action forward = () -> {
            try (Scope s = Scope.open()) { m.forward(x); }
        };
        try (GradMode.Guard g = GradMode.noGrad()) {
            long warmEnd = System.nanoTime() + (long) (budgetS * 0.5e9);
            for (int i = 0; i < 20 || System.nanoTime() < warmEnd; i++) forward.run();
            return Timing.medianSeconds(forward, 0, x.shape()[0] == 1 ? 2000 : 500, budgetS * 0.5);
        } finally {
            m.setTraining(was);
        }
    }

    /**
     * Median seconds of one forward of each model on the same batch, timed alternately (a, b, a,
     * b, ...) so that load from other processes hits both alike; about budgetS in all.
     */
    static double[] latencyPair(Module a, Module b, TensorDataset data, int batch, double budgetS) {
        try (Tensor x = data.features().narrow(0, 0, batch).contiguous()) {
            return latencyPair(a, b, x, budgetS);
        }
    }

    /** The same on a given batch x. */
    static double[] latencyPair(Module a, Module b, Tensor x, double budgetS) {
        a.eval();
        b.eval();
        int batch = x.shape()[0];
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (int i = 0; i < 5; i++) { time(a, x); time(b, x); }
            int max = batch == 1 ? 4000 : 400;
            double[] ta = new double[max], tb = new double[max];
            long deadline = System.nanoTime() + (long) (budgetS * 1e9);
            int n = 0;
            while (n < max && (n == 0 || System.nanoTime() < deadline)) {
                ta[n] = time(a, x);
                tb[n++] = time(b, x);
            }
            return new double[]{Timing.median(java.util.Arrays.copyOf(ta, n)), Timing.median(java.util.Arrays.copyOf(tb, n))};
        }
    }

    private static double time(Module m, Tensor x) {
        long t0 = System.nanoTime();
        try (Scope s = Scope.open()) { m.forward(x); }
        return (System.nanoTime() - t0) * 1e-9;
    }

    /**
     * Runs two ONNX files on the same inputs (--input/--shape of feed) and prints max |diff|, the
     * first file's max |value| and the cosine per output (kiln quantize and kiln prune on ONNX).
     */
    static void compareOnnx(java.io.PrintWriter out, Path before, Path after, ModelInputOptions feed, String header) throws Exception {
        try (BenchTarget a0 = BenchTarget.open(before); BenchTarget b0 = BenchTarget.open(after)) {
            java.util.List<Tensor> values = feed.build(a0, null, 1);
            try {
                a0.prepare(values);
                b0.prepare(values);
                var a = a0.run();
                var b = b0.run();
                out.printf("%-24s %14s %12s %10s%n", header, "max |diff|", "max |value|", "cosine");
                for (var e : a.entrySet()) {
                    Tensor y = b.get(e.getKey());
                    double[] x = e.getValue().toDoubleArray(), z = y.toDoubleArray();
                    double dot = 0, nx = 0, nz = 0, diff = 0, mx = 0;
                    for (int i = 0; i < x.length; i++) {
                        dot += x[i] * z[i];
                        nx += x[i] * x[i];
                        nz += z[i] * z[i];
                        diff = Math.max(diff, Math.abs(x[i] - z[i]));
                        mx = Math.max(mx, Math.abs(x[i]));
                    }
                    out.printf(java.util.Locale.ROOT, "%-24s %14.3g %12.3g %10.6f%n", e.getKey(), diff, mx, dot / Math.sqrt(nx * nz));
                }
                a.values().forEach(Tensor::close);
                b.values().forEach(Tensor::close);
            } finally {
                values.forEach(Tensor::close);
            }
        }
    }
}
