package dev.kiln.cli;

import dev.kiln.autograd.GradMode;
import dev.kiln.data.FashionMnist;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Module;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;

import java.nio.file.Path;

/** Shared by `kiln distill` and `kiln fuse`: data sets, model loading, inference latency. */
final class CompressSupport {
    private CompressSupport() {}

    /** Fashion-MNIST train and test sets and a line saying where they came from. */
    record Data(TensorDataset train, TensorDataset test, String note) implements AutoCloseable {
        @Override public void close() {
            train.close();
            test.close();
        }
    }

    /** "fashion-mnist" (the Debian package, else the embedded subset) or a directory of IDX files; limit caps the training set. */
    static Data load(String data, Integer limit) {
        Path dir = data.equals("fashion-mnist") ? FashionMnist.defaultDir() : Path.of(data);
        TensorDataset tr, te;
        String note;
        if (FashionMnist.available(dir)) {
            tr = FashionMnist.load(dir, true);
            te = FashionMnist.load(dir, false);
            note = "data: Fashion-MNIST from " + dir;
        } else if (data.equals("fashion-mnist")) {
            tr = FashionMnist.embedded(true);
            te = FashionMnist.embedded(false);
            note = "data: " + dir + " not found; using the embedded subset (" + tr.size() + " train / " + te.size() + " test images)";
        } else {
            throw new IllegalArgumentException("no Fashion-MNIST IDX files in " + dir);
        }
        if (limit != null && limit < tr.size()) {
            TensorDataset small = new TensorDataset(tr.features().narrow(0, 0, limit).contiguous(), tr.labels().narrow(0, 0, limit).contiguous());
            tr.close();
            tr = small;
        }
        return new Data(tr, te, note);
    }

    /** A named model ({@link Models}) with the weights of a checkpoint, in eval mode. */
    static Module loadModel(String name, Path checkpoint) {
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
        boolean was = m.isTraining();
        m.eval();
        try (Tensor x = data.features().narrow(0, 0, batch).contiguous(); GradMode.Guard g = GradMode.noGrad()) {
            return Timing.medianSeconds(() -> {
                try (Scope s = Scope.open()) { m.forward(x); }
            }, 5, batch == 1 ? 2000 : 200, budgetS);
        } finally {
            m.setTraining(was);
        }
    }

    /**
     * Median seconds of one forward of each model on the same batch, timed alternately (a, b, a,
     * b, ...) so that load from other processes hits both alike; about budgetS in all.
     */
    static double[] latencyPair(Module a, Module b, TensorDataset data, int batch, double budgetS) {
        a.eval();
        b.eval();
        try (Tensor x = data.features().narrow(0, 0, batch).contiguous(); GradMode.Guard g = GradMode.noGrad()) {
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
}
