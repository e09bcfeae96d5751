package dev.kiln.cli;

import dev.kiln.autograd.GradMode;
import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.compress.prune.Criterion;
import dev.kiln.compress.prune.OnnxStructuredPruner;
import dev.kiln.compress.prune.GradualPruner;
import dev.kiln.compress.prune.GradualSchedule;
import dev.kiln.compress.prune.MaskSet;
import dev.kiln.compress.prune.MaskedOptimizer;
import dev.kiln.compress.prune.Pruner;
import dev.kiln.compress.prune.StructuredPruner;
import dev.kiln.compress.sparse.SparseInference;
import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * `kiln prune`: prunes a model saved by `kiln train --save` (magnitude, N:M, random or structured),
 * optionally fine-tunes it on Fashion-MNIST with the masks enforced (gradual magnitude pruning on
 * Zhu &amp; Gupta's cubic schedule with --gradual), saves it and prints accuracy, parameter counts,
 * bytes on disk and latency before and after.
 */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = "Prune a Kiln checkpoint (from `kiln train --save`), fine-tune it, save it and compare before/after.")
public final class PruneCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "Kiln checkpoint (kiln train --save, or kiln prune --out), or a transformer ONNX file (--method structured: heads and FFN neurons removed).") Path modelFile;
    @Option(names = "--method", required = true, description = "magnitude, nm, structured or random.") String method;
    @Option(names = "--sparsity", defaultValue = "0.5", description = "Fraction of weights (structured: of hidden neurons/channels) to remove (default: ${DEFAULT-VALUE}).") double sparsity;
    @Option(names = "--nm", defaultValue = "2:4", description = "N:M pattern for --method nm: N kept in every M along the input dim (default: ${DEFAULT-VALUE}).") String nm;
    @Option(names = "--global", description = "Magnitude: one threshold across layers instead of the same sparsity per layer.") boolean global;
    @Option(names = "--criterion", defaultValue = "l1", description = "Structured importance: l1, l2 or bn (BatchNorm |gamma|) (default: ${DEFAULT-VALUE}).") String criterion;
    @Option(names = "--finetune-epochs", defaultValue = "0", description = "Epochs of fine-tuning after (or, with --gradual, during) pruning.") int epochs;
    @Option(names = "--gradual", description = "Magnitude: prune gradually on the cubic schedule during the first part of fine-tuning.") boolean gradual;
    @Option(names = "--gradual-span", defaultValue = "0.5", description = "Fraction of fine-tuning steps over which sparsity rises (default: ${DEFAULT-VALUE}).") double gradualSpan;
    @Option(names = "--gradual-steps", defaultValue = "20", description = "Number of pruning steps in the schedule (default: ${DEFAULT-VALUE}).") int gradualSteps;
    @Option(names = "--data", defaultValue = "fashion-mnist", description = "fashion-mnist (default) or a directory with its IDX files.") String data;
    @Option(names = "--lr", defaultValue = "0.01", description = "Fine-tuning learning rate, SGD with momentum 0.9 (default: ${DEFAULT-VALUE}).") double lr;
    @Option(names = "--batch", defaultValue = "64", description = "Fine-tuning mini-batch size (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the shuffling and of --method random (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--limit", description = "Use only the first N training examples.") Integer limit;
    @Option(names = "--threads", description = "CPU threads (default: all cores).") Integer threads;
    @Option(names = "--latency-seconds", defaultValue = "0.5", description = "Time budget of each latency measurement (default: ${DEFAULT-VALUE}).") double latencySeconds;
    @Option(names = "--heads", defaultValue = "0", description = "ONNX transformers: fraction of attention heads to remove per layer (default: ${DEFAULT-VALUE}); --sparsity is then the fraction of FFN neurons.") double heads;
    @Option(names = "--mask-only", description = "ONNX transformers: zero the pruned heads' output rows and neurons' W2 rows instead of removing them (same function, same shapes).") boolean maskOnly;
    @picocli.CommandLine.Mixin ModelInputOptions feed;
    @Option(names = "--out", required = true, description = "Where to save the pruned model (Kiln checkpoint).") Path outFile;

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;
    private PrintWriter out;

    /** One column of the before/after table. */
    record Stats(double accuracy, long nonzero, long total, long bytes, double latencyMs) {}

    @Override
    public Integer call() throws Exception {
        out = spec.commandLine().getOut();
        try {
            return prune();
        } finally {
            out.flush();
        }
    }

    private void validate() throws java.io.IOException {
        if (!java.util.Set.of("magnitude", "nm", "structured", "random").contains(method))
            throw new IllegalArgumentException("prune: unknown method '" + method + "' (magnitude, nm, structured, random)");
        if (!(sparsity >= 0 && sparsity < 1)) throw new IllegalArgumentException("prune: --sparsity must be in [0, 1), got " + sparsity);
        CliChecks.atLeast("prune", "--finetune-epochs", epochs, 0);
        CliChecks.atLeast("prune", "--batch", batch, 1);
        CliChecks.inRange("prune", "--lr", lr, 0, Double.MAX_VALUE);
        CliChecks.positive("prune", "--latency-seconds", latencySeconds);
        if (limit != null) CliChecks.atLeast("prune", "--limit", limit, 1);
        if (threads != null) CliChecks.atLeast("prune", "--threads", threads, 1);
        if (gradual && !method.equals("magnitude")) throw new IllegalArgumentException("prune: --gradual works with --method magnitude");
        if (gradual && epochs < 1) throw new IllegalArgumentException("prune: --gradual prunes during fine-tuning: give --finetune-epochs >= 1");
        if (!(gradualSpan > 0 && gradualSpan <= 1) || gradualSteps < 1)
            throw new IllegalArgumentException("prune: need 0 < --gradual-span <= 1 and --gradual-steps >= 1");
        if (global && !method.equals("magnitude")) throw new IllegalArgumentException("prune: --global works with --method magnitude");
        if (method.equals("nm")) Pruner.parseNm(nm);
        if (method.equals("structured")) Criterion.parse(criterion);
        CliChecks.requireCheckpoint("prune", modelFile);
    }

    private Integer prune() throws Exception {
        if (CliChecks.inputKind(modelFile).isOnnx()) return pruneOnnx();
        validate();
        if (threads != null) CpuConfig.setThreads(threads);
        FashionData.Sets sets = FashionData.load(data, limit, "prune");
        out.println(sets.note());
        try (TensorDataset train = sets.train(); TensorDataset test = sets.test();
             ModelCheckpoint.Loaded loaded = ModelCheckpoint.load(modelFile);
             DataLoader trainLoader = DataLoader.builder(train).batchSize(batch).shuffle(seed).dropLast(false).build();
             DataLoader testLoader = DataLoader.builder(test).batchSize(1000).prefetch(false).build()) {
            Sequential model = loaded.model();
            Tensor sample = test.features().narrow(0, 0, Math.min(64, test.size()));
            Stats before = measure(model, testLoader, sample, modelOnlyBytes(model, loaded.metadata()));
            out.printf(Locale.ROOT, "model %s: %,d parameters, test accuracy %.4f%n", modelFile, before.total(), before.accuracy());
            Sequential pruned = method.equals("structured") ? structured(model, trainLoader, testLoader) : masked(model, trainLoader, testLoader);
            try {
                ModelCheckpoint.save(outFile, pruned, outMetadata(loaded.metadata()));
                Stats after = measure(pruned, testLoader, sample, Files.size(outFile));
                printTable(before, after);
                sparseLatency(pruned, sample, before.latencyMs());
                out.printf("saved %s%n", outFile);
            } finally {
                if (pruned != model) pruned.close();
            }
            return Main.OK;
        }
    }

    /**
     * {@code kiln prune MODEL.onnx --method structured --heads H --sparsity F --out OUT.onnx}: attention
     * heads and FFN neurons of a transformer removed ({@link OnnxStructuredPruner}); sizes, and with
     * inputs (--input/--shape) the pruned outputs against the dense model's, both run by Kiln.
     */
    private Integer pruneOnnx() throws Exception {
        if (!method.equals("structured"))
            throw new IllegalArgumentException("prune: " + modelFile + ": ONNX files take --method structured (heads and FFN neurons), got '" + method + "'");
        if (threads != null) CliChecks.atLeast("prune", "--threads", threads, 1);
        if (threads != null) CpuConfig.setThreads(threads);
        var opts = new OnnxStructuredPruner.Options(heads, sparsity, maskOnly);
        var r = OnnxStructuredPruner.prune(modelFile, outFile, opts);
        out.printf(Locale.ROOT, "%s: %d attention layers, heads %d -> %d each; %d FFN layers, neurons %d -> %d each%s%n", outFile,
                r.attentionLayers(), r.headsBefore(), r.headsAfter(), r.ffnLayers(), r.ffnBefore(), r.ffnAfter(),
                maskOnly ? " (masked: zeroed, shapes kept)" : "");
        for (String n : r.notes()) out.println("  left alone: " + n);
        out.printf(Locale.ROOT, "size: %.2f MB -> %.2f MB (%.2fx smaller)%n", r.bytesIn() / 1e6, r.bytesOut() / 1e6, (double) r.bytesIn() / r.bytesOut());
        if (feed.given()) CompressSupport.compareOnnx(out, modelFile, outFile, feed, "output (dense vs pruned)");
        return Main.OK;
    }

    /** Magnitude / N:M / random masks, fine-tuned with the masks enforced (gradually pruned with --gradual). */
    private Sequential masked(Sequential model, DataLoader trainLoader, DataLoader testLoader) {
        try (Optimizer sgd = new SGD(model.parameters(), lr, 0.9, 0, 0, false)) {
            if (gradual) {
                long steps = (long) epochs * trainLoader.numBatches();
                GradualSchedule s = GradualSchedule.over(sparsity, steps, gradualSpan, gradualSteps);
                out.printf(Locale.ROOT, "gradual pruning: 0 -> %.3f at steps 0, %d, ..., %d of %d (cubic schedule)%n", sparsity, s.interval(), s.endStep(), steps);
                try (GradualPruner gp = new GradualPruner(model, sgd, s, global)) {
                    finetune(model, gp.optimizer(), gp.masks(), trainLoader, testLoader);
                }
                return model;
            }
            try (MaskSet masks = masks(model)) {
                out.printf(Locale.ROOT, "pruned %s: %.2f%% of prunable weights are zero, test accuracy before fine-tuning %.4f%n",
                        describeMethod(), 100 * masks.sparsity(), Trainer.accuracy(model, testLoader));
                finetune(model, new MaskedOptimizer(sgd, masks), masks, trainLoader, testLoader);
            }
            return model;
        }
    }

    private MaskSet masks(Sequential model) {
        return switch (method) {
            case "magnitude" -> Pruner.magnitude(model, sparsity, global);
            case "random" -> Pruner.random(model, sparsity, seed);
            case "nm" -> {
                int[] p = Pruner.parseNm(nm);
                yield Pruner.nOfM(model, p[0], p[1]);
            }
            default -> throw new IllegalStateException(method);
        };
    }

    /** Structured pruning to a smaller Sequential, then plain fine-tuning. */
    private Sequential structured(Sequential model, DataLoader trainLoader, DataLoader testLoader) {
        StructuredPruner.Result r = StructuredPruner.prune(model, sparsity, Criterion.parse(criterion));
        out.printf(Locale.ROOT, "structured pruning (%s): %s, test accuracy before fine-tuning %.4f%n", criterion,
                r.layers().isEmpty() ? "no prunable layer" : StructuredPruner.describe(r.layers()), Trainer.accuracy(r.model(), testLoader));
        try (Optimizer sgd = new SGD(r.model().parameters(), lr, 0.9, 0, 0, false)) {
            finetune(r.model(), sgd, null, trainLoader, testLoader);
        }
        return r.model();
    }

    private void finetune(Module model, Optimizer opt, MaskSet masks, DataLoader trainLoader, DataLoader testLoader) {
        Trainer trainer = new Trainer(model, opt, 1);
        for (int e = 0; e < epochs; e++) {
            Trainer.EpochStats st = trainer.trainEpoch(trainLoader, null);
            double acc = Trainer.accuracy(model, testLoader);
            out.printf(Locale.ROOT, "fine-tune epoch %d: loss %.4f, test accuracy %.4f%s, %.1f s%n", e + 1, st.meanLoss(), acc,
                    masks == null ? "" : String.format(Locale.ROOT, ", sparsity %.4f", masks.sparsity()), st.seconds());
            out.flush();
        }
    }

    private Stats measure(Sequential model, DataLoader testLoader, Tensor sample, long bytes) throws Exception {
        return new Stats(Trainer.accuracy(model, testLoader), nonzero(model), model.parameterCount(), bytes, 1000 * CompressSupport.latency(model, sample, latencySeconds));
    }

    /** Parameters that are not exactly zero. */
    static long nonzero(Module model) {
        long n = 0;
        for (Tensor p : model.parameters()) {
            for (double v : p.toDoubleArray()) if (v != 0) n++;
        }
        return n;
    }

    /** Size of the model alone in the checkpoint format (the input file may also hold optimizer state). */
    private static long modelOnlyBytes(Sequential model, Map<String, String> meta) throws Exception {
        Path tmp = Files.createTempFile("kiln-prune", ".safetensors");
        try {
            ModelCheckpoint.save(tmp, model, meta.containsKey("model") ? Map.of("model", meta.get("model")) : Map.of());
            return Files.size(tmp);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private Map<String, String> outMetadata(Map<String, String> in) {
        LinkedHashMap<String, String> m = new LinkedHashMap<>();
        if (in.containsKey("model")) m.put("model", in.get("model"));
        m.put("pruning", describeMethod());
        m.put("finetune_epochs", Integer.toString(epochs));
        return m;
    }

    private String describeMethod() {
        return switch (method) {
            case "nm" -> "nm " + nm;
            case "structured" -> String.format(Locale.ROOT, "structured %s %.3f", criterion, sparsity);
            default -> String.format(Locale.ROOT, "%s%s%s %.3f", method, global ? " global" : "", gradual ? " gradual" : "", sparsity);
        };
    }

    /**
     * The pruned model with its Linear layers on the sparse kernels the device's crossover table
     * picks (dense where sparse measured slower): the kernels chosen and the latency.
     */
    private void sparseLatency(Sequential pruned, Tensor sample, double beforeMs) throws Exception {
        try (SparseInference fast = SparseInference.of(pruned)) {
            if (fast.kernels(64).isEmpty()) return;
            double ms = 1000 * CompressSupport.latency(fast, sample, latencySeconds);
            out.printf(Locale.ROOT, "%-22s %14s %14.3f %11.1f%%%n", "  with sparse kernels", "", ms, pct(ms, beforeMs));
            out.print(fast.describe());
        }
    }

    private void printTable(Stats b, Stats a) {
        out.printf("%-22s %14s %14s %12s%n", "", "before", "after", "change");
        out.printf(Locale.ROOT, "%-22s %14.4f %14.4f %+11.2f pt%n", "test accuracy", b.accuracy(), a.accuracy(), 100 * (a.accuracy() - b.accuracy()));
        out.printf(Locale.ROOT, "%-22s %,14d %,14d %11.1f%%%n", "parameters (nonzero)", b.nonzero(), a.nonzero(), pct(a.nonzero(), b.nonzero()));
        out.printf(Locale.ROOT, "%-22s %,14d %,14d %11.1f%%%n", "parameters (total)", b.total(), a.total(), pct(a.total(), b.total()));
        out.printf(Locale.ROOT, "%-22s %,14d %,14d %11.1f%%%n", "bytes on disk", b.bytes(), a.bytes(), pct(a.bytes(), b.bytes()));
        out.printf(Locale.ROOT, "%-22s %14.3f %14.3f %11.1f%%%n", "latency (ms/batch 64)", b.latencyMs(), a.latencyMs(), pct(a.latencyMs(), b.latencyMs()));
    }

    private static double pct(double after, double before) { return before == 0 ? 0 : 100 * (after - before) / before; }
}
