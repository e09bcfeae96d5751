package dev.kiln.cli;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.compress.fuse.Fusion;
import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Models;
import dev.kiln.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * `kiln fuse`: layer fusion of a trained model for inference (BatchNorm folding, Linear merging,
 * activations fused after the GEMM/conv, Dropout removed); prints accuracy, parameters, bytes and
 * latency before and after, checks the outputs agree, and saves the fused model (reloadable with
 * its architecture in the checkpoint metadata).
 */
@Command(name = "fuse", mixinStandardHelpOptions = true,
        description = "Fuse a trained model's layers for inference and compare it with the original.")
public final class FuseCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "Checkpoint of the model (from kiln train --save).") Path checkpoint;
    @Option(names = "--model", description = "Architecture (mlp, cnn, mlp-small or cnn-bn) of a checkpoint that does not record it (default: the one recorded in the checkpoint; one that carries its full architecture, e.g. a pruned one, is rebuilt from it).") String model;
    @Option(names = "--out", required = true, description = "Where to write the fused model.") Path out;
    @Option(names = "--data", defaultValue = "fashion-mnist", description = "Test set for accuracy and latency inputs.") String data;
    @Option(names = "--timing-budget", defaultValue = "1.5", description = "Seconds spent timing each latency (default: ${DEFAULT-VALUE}).") double timingBudget;
    @Option(names = "--threads", description = "CPU threads (default: all cores).") Integer threads;

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter pw = spec.commandLine().getOut();
        try {
            return run(pw);
        } finally {
            pw.flush();
        }
    }

    private Integer run(PrintWriter pw) throws Exception {
        if (model != null && !Models.NAMES.contains(model))
            throw new IllegalArgumentException("fuse: unknown model '" + model + "' (expected one of " + Models.NAMES + ")");
        CliChecks.positive("fuse", "--timing-budget", timingBudget);
        if (threads != null) CliChecks.atLeast("fuse", "--threads", threads, 1);
        if (threads != null) CpuConfig.setThreads(threads);
        try (Module original = CompressSupport.loadModel("fuse", "--model", model, checkpoint);
             FashionData.Sets d = FashionData.load(data, 1, "fuse")) {
            pw.println(d.note());
            Fusion.Result r = Fusion.fuseWithLog(original);
            try (Sequential fused = r.model()) {
                for (String line : r.log()) pw.println("  " + line);
                double err = maxRelativeError(original, fused, d.test());
                pw.printf("%-10s %7s %12s %12s %10s %13s %12s%n", "model", "layers", "params", "bytes", "test acc", "b64 latency", "b1 latency");
                int b64 = Math.min(64, d.test().size());
                double[] l64 = CompressSupport.latencyPair(original, fused, d.test(), b64, timingBudget);
                double[] l1 = CompressSupport.latencyPair(original, fused, d.test(), 1, timingBudget);
                row(pw, "original", original, d.test(), l64[0], l1[0]);
                row(pw, "fused", fused, d.test(), l64[1], l1[1]);
                pw.printf(Locale.ROOT, "speed-up (original / fused latency): batch %d %.2fx, batch 1 %.2fx (medians, timed alternately)%n",
                        b64, l64[0] / l64[1], l1[0] / l1[1]);
                pw.printf(Locale.ROOT, "max |fused - original| / max |original| over the test logits: %.2e%n", err);
                ModelCheckpoint.save(out, fused, Map.of("fused_from", model != null ? model
                        : ModelCheckpoint.metadata(checkpoint).getOrDefault(ModelCheckpoint.MODEL_KEY, "its architecture"), "source", checkpoint.toString()));
                try (ModelCheckpoint.Loaded back = ModelCheckpoint.load(out)) {
                    double e2 = maxRelativeError(fused, back.model(), d.test());
                    pw.printf(Locale.ROOT, "saved to %s (architecture in its metadata); reloaded: max relative difference %.1e%n", out, e2);
                }
            }
            return Main.OK;
        }
    }

    private static void row(PrintWriter pw, String name, Module m, TensorDataset test, double b64, double b1) {
        double acc;
        try (DataLoader l = DataLoader.builder(test).batchSize(1000).prefetch(false).build()) {
            acc = Trainer.accuracy(m, l);
        }
        pw.printf(Locale.ROOT, "%-10s %7d %,12d %,12d %10.4f %10.3f ms %9.3f ms%n", name, layers(m), m.parameterCount(), bytes(m),
                acc, b64 * 1e3, b1 * 1e3);
        pw.flush();
    }

    /** Bytes of every parameter and buffer (the in-memory and on-disk weight size). */
    private static long bytes(Module m) {
        long n = 0;
        for (Tensor t : m.stateDict().values()) n += t.numel() * t.dtype().byteSize();
        return n;
    }

    private static int layers(Module m) {
        return m instanceof Sequential s ? s.layers().stream().mapToInt(FuseCommand::layers).sum() : 1;
    }

    /** max |b - a| / max |a| over the logits of (up to) the first 1000 test images, eval mode. */
    static double maxRelativeError(Module a, Module b, TensorDataset test) {
        a.eval();
        b.eval();
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            Tensor x = test.features().narrow(0, 0, Math.min(1000, test.size()));
            Tensor ya = a.forward(x), yb = b.forward(x);
            double err = ya.sub(yb).abs().max().item(), ref = ya.abs().max().item();
            return ref == 0 ? err : err / ref;
        }
    }
}
