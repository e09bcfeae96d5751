package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Module;
import dev.kiln.optim.Adam;
import dev.kiln.optim.LrSchedule;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import dev.kiln.train.Trainer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** `kiln train`: trains the standard MLP or CNN on Fashion-MNIST and reports test accuracy per epoch. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model on Fashion-MNIST (the embedded subset when the Debian package is absent).")
public final class TrainCommand implements Callable<Integer> {
    @Option(names = "--data", defaultValue = "fashion-mnist", description = "Data set: fashion-mnist (default), or a directory with its IDX files; for --model gpt a text file or a directory of them.")
    String data;
    @Option(names = "--model", description = "mlp, cnn, mlp-small or cnn-bn (default: mlp; with --resume, the model recorded in the checkpoint); "
            + "gpt: a GPT-2-architecture language model on the bytes of --data (text).")
    String model;
    @Option(names = "--epochs", defaultValue = "1",
            description = "Epochs to train (default: ${DEFAULT-VALUE}); with --resume, epochs to train after the checkpoint's (--epochs 2 from an epoch-3 checkpoint ends at epoch 5).")
    int epochs;
    @Option(names = "--batch", defaultValue = "64", description = "Mini-batch size (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--lr", description = "Learning rate (default: " + SGD_LR + " for sgd, " + ADAM_LR + " for adam and adamw).") Double lr;
    @Option(names = "--optimizer", defaultValue = "sgd",
            description = "sgd (with --momentum), adam, or adamw (Adam with decoupled weight decay) (default: ${DEFAULT-VALUE}).")
    String optimizer;
    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum (default: ${DEFAULT-VALUE}).") double momentum;
    @Option(names = "--weight-decay", defaultValue = "0", description = "Weight decay (L2 for sgd and adam, decoupled for adamw) (default: ${DEFAULT-VALUE}).") double weightDecay;
    @Option(names = "--accumulate", defaultValue = "1", description = "Micro-batches per optimizer step.") int accumulate;
    @Option(names = "--schedule", defaultValue = "none", description = "none, step, cosine or exponential (per epoch).") String schedule;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the initial weights and the shuffling (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--threads", description = "CPU threads (default: all cores).") Integer threads;
    @Option(names = "--prefetch", defaultValue = "true", negatable = true, fallbackValue = "true", description = "Load batches on a background thread.") boolean prefetch;
    @Option(names = "--limit", description = "Use only the first N training examples.") Integer limit;
    @Option(names = "--json", description = "Write {test_accuracy, epoch_seconds, samples_per_second, ...} here.") Path json;
    @Option(names = "--save", description = "Checkpoint file (model + optimizer) written after every epoch (gpt: at every evaluation; with --zero one file per rank, FILE.rank-R-of-W).") Path save;
    @Option(names = "--resume", description = "Checkpoint to resume from.") Path resume;
    @Option(names = "--no-progress", description = "No progress bar.") boolean noProgress;
    @picocli.CommandLine.Mixin PlotOption plot;
    @Option(names = "--dist-backend", paramLabel = "cpu|mpi|nccl",
            description = "Collective backend when run by several ranks: cpu (TCP ring, the default under kiln launch), mpi (Open MPI; "
                    + "the default under mpirun, rank and size from MPI), nccl (CUDA). Same as KILN_DIST_BACKEND.") String distBackend;
    @Option(names = "--steps", defaultValue = "300", description = "gpt: optimizer steps (default: ${DEFAULT-VALUE}).") int steps;
    @Option(names = "--context", defaultValue = "128", description = "gpt: context length in bytes (default: ${DEFAULT-VALUE}).") int context;
    @Option(names = "--width", defaultValue = "128", description = "gpt: model width n_embd (default: ${DEFAULT-VALUE}).") int width;
    @Option(names = "--layers", defaultValue = "4", description = "gpt: transformer blocks (default: ${DEFAULT-VALUE}).") int layers;
    @Option(names = "--heads", defaultValue = "4", description = "gpt: attention heads (default: ${DEFAULT-VALUE}).") int heads;
    @Option(names = "--dropout", defaultValue = "0.1", description = "gpt: dropout (default: ${DEFAULT-VALUE}).") double dropout;
    @Option(names = "--eval-every", defaultValue = "50", description = "gpt: steps between held-out evaluations (default: ${DEFAULT-VALUE}).") int evalEvery;
    @Option(names = "--out", description = "gpt: Hugging Face GPT-2 directory written at each evaluation (kiln generate reads it).") Path outDir;
    @Option(names = "--zero", defaultValue = "0", description = "gpt, several ranks: 0 = DDP (default), 1 = ZeRO-1 (optimizer state sharded), 2 = ZeRO-2 (and gradients freed once reduced).") int zero;
    @Option(names = "--checkpoint-activations", description = "gpt: recompute each block's activations in backward instead of keeping them (less memory, one more forward).") boolean checkpointActivations;
    @Option(names = "--precision", defaultValue = "f32", paramLabel = "f32|bf16", description = "gpt: matrix products of the Linear layers in f32 (default) or bf16 "
            + "(operands rounded to bf16, f32 sums, f32 master weights; where the CPU has AVX512-BF16).") String precision;
    @Option(names = "--sample", defaultValue = "120", description = "gpt: bytes sampled from --out at the end (0: none; default: ${DEFAULT-VALUE}).") int sample;

    static final double SGD_LR = 0.05, ADAM_LR = 0.001;

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;
    private java.io.PrintWriter out;

    @Override
    public Integer call() throws Exception {
        out = spec.commandLine().getOut();
        try {
            return train();
        } finally {
            out.flush();
        }
    }

    private Integer train() throws Exception {
        if ("gpt".equals(model)) return trainGpt();
        validate();
        model = resumedModel();
        if ("gpt".equals(model)) throw new IllegalArgumentException("train --resume: " + resume + " is a checkpoint of --model gpt; resume it with --model gpt");
        if (!dev.kiln.train.Models.NAMES.contains(model))
            throw new IllegalArgumentException("train: unknown model '" + model + "' (expected one of " + dev.kiln.train.Models.NAMES + ")");
        if (!java.util.Set.of("sgd", "adam", "adamw").contains(optimizer))
            throw new IllegalArgumentException("train: unknown optimizer '" + optimizer + "' (sgd, adam, adamw)");
        if (!java.util.Set.of("none", "step", "cosine", "exponential").contains(schedule))
            throw new IllegalArgumentException("train: unknown schedule '" + schedule + "' (none, step, cosine, exponential)");
        if (threads != null) CpuConfig.setThreads(threads);
        FashionData.Sets sets = FashionData.load(data, limit, "train");
        Generator g = new Generator(seed);
        // WORLD_SIZE > 1 (kiln launch): DDP, sharded data, rank 0 logs/evaluates/saves
        try (dev.kiln.dist.DistributedTraining dist = dev.kiln.dist.DistributedTraining.fromEnv(distEnv());
             TensorDataset train = sets.train(); TensorDataset test = sets.test();
             Module net = Models.byName(model, g);
             Optimizer opt = makeOptimizer(net);
             DataLoader trainLoader = dist.shard(DataLoader.builder(train).batchSize(batch).shuffle(seed).dropLast(false).prefetch(prefetch),
                     train.size(), seed, batch).build();
             DataLoader testLoader = DataLoader.builder(test).batchSize(1000).prefetch(false).build()) {
            out = dist.log(out);
            out.println(sets.note() + (dist.isDistributed() ? "\n" + dist.describe() : ""));
            int startEpoch = 0;
            if (resume != null) {
                Map<String, String> meta = Checkpoint.load(resume, net, opt);
                startEpoch = Integer.parseInt(meta.getOrDefault("epoch", "0"));
                trainLoader.setEpoch(startEpoch);
                out.printf("resumed from %s at epoch %d%n", resume, startEpoch);
            }
            LrSchedule sched = makeSchedule(opt);
            for (int e = 0; e < startEpoch && sched != null; e++) sched.step();
            Trainer trainer = new Trainer(dist.wrap(net), dist.wrap(opt), accumulate);
            out.printf(Locale.ROOT, "model %s (%,d parameters), %s lr %.4g, batch %d, %d train / %d test examples, %d threads%n",
                    model, net.parameterCount(), optimizer, lr, batch, train.size(), test.size(), CpuConfig.threads());
            List<Double> secs = new ArrayList<>();
            BenchPlot.Panel lossPanel = new BenchPlot.Panel("mean training loss", "epoch", "loss", BenchPlot.Style.LINES);
            BenchPlot.Panel accPanel = new BenchPlot.Panel("test accuracy", "epoch", "accuracy", BenchPlot.Style.LINES);
            List<Long> rss = new ArrayList<>();
            double acc = Double.NaN;
            long samples = 0;
            out.printf("%-6s %10s %10s %12s %10s %9s%n", "epoch", "loss", "seconds", "samples/s", "test acc", "RSS MiB");
            for (int e = startEpoch; e < startEpoch + epochs; e++) {
                Trainer.EpochStats st;
                try (ProgressBar pb = noProgress || !dist.isMain() ? null : bar(e, trainLoader.numBatches())) {
                    st = trainer.trainEpoch(trainLoader, pb == null ? null : (done, total, n, loss) -> {
                        pb.stepTo(done);
                        if (done % 20 == 0 || done == total) pb.setExtraMessage(String.format(Locale.ROOT, " loss %.4f", loss));
                    });
                }
                if (sched != null) sched.step();
                acc = dist.isMain() ? Trainer.accuracy(net, testLoader) : Double.NaN;
                secs.add(st.seconds());
                samples += st.samples();
                rss.add(rssBytes());
                lossPanel.add("Kiln: mean training loss", Integer.toString(e + 1), st.meanLoss());
                accPanel.add("Kiln: test accuracy", Integer.toString(e + 1), acc);
                out.printf(Locale.ROOT, "%-6d %10.4f %10.2f %12.0f %10.4f %9.1f%n", e + 1, st.meanLoss(), st.seconds(), st.samplesPerSecond(), acc,
                        rss.getLast() / 1048576.0);
                out.flush();
                if (save != null && dist.isMain()) Checkpoint.save(save, net, opt, Map.of("epoch", Integer.toString(e + 1), "model", model));
            }
            double total = secs.stream().mapToDouble(Double::doubleValue).sum();
            if (json != null && dist.isMain()) writeJson(acc, secs, rss, total > 0 ? samples / total : Double.NaN, train.size());
            if (dist.isMain())
                plot.write(out, String.format(Locale.ROOT, "kiln train: %s on %s, %s lr %.4g, batch %d", model, data, optimizer, lr, batch),
                        List.of(lossPanel, accPanel));
            return Main.OK;
        }
    }

    /** The environment with --dist-backend as KILN_DIST_BACKEND. */
    private Map<String, String> distEnv() {
        if (distBackend == null) return System.getenv();
        if (!java.util.Set.of("cpu", "mpi", "nccl").contains(distBackend))
            throw new IllegalArgumentException("train: --dist-backend " + distBackend + " is not a backend (cpu, mpi, nccl)");
        Map<String, String> env = new java.util.HashMap<>(System.getenv());
        env.put("KILN_DIST_BACKEND", distBackend);
        return env;
    }

    /** --model gpt: batch 16 unless --batch is given, AdamW at lr 1e-3 unless --lr is. */
    private Integer trainGpt() throws Exception {
        if (accumulate != 1 || !schedule.equals("none") || epochs != 1 && spec.commandLine().getParseResult().hasMatchedOption("--epochs"))
            throw new IllegalArgumentException("train --model gpt: --accumulate, --schedule and --epochs are for the Fashion-MNIST models (gpt: --steps, --eval-every)");
        if (threads != null) {
            CliChecks.atLeast("train", "--threads", threads, 1);
            CpuConfig.setThreads(threads);
        }
        int b = spec.commandLine().getParseResult().hasMatchedOption("--batch") ? batch : 16;
        CliChecks.atLeast("train", "--batch", b, 1);
        double rate = lr == null ? 1e-3 : lr;
        CliChecks.inRange("train", "--lr", rate, 0, Double.MAX_VALUE);
        CliChecks.inRange("train", "--weight-decay", weightDecay, 0, Double.MAX_VALUE);
        Path text = spec.commandLine().getParseResult().hasMatchedOption("--data") ? Path.of(data) : null;
        try (dev.kiln.dist.DistributedTraining dist = dev.kiln.dist.DistributedTraining.fromEnv(distEnv())) {
            if (!precision.equals("f32") && !precision.equals("bf16"))
                throw new IllegalArgumentException("train: --precision must be f32 or bf16, got " + precision);
            return TrainGpt.run(new TrainGpt.Settings(text, steps, b, rate, weightDecay, context, width, layers, heads, dropout, evalEvery,
                    outDir, sample, seed, json, checkpointActivations, zero, save, resume, precision.equals("bf16")), out, dist);
        }
    }

    /**
     * The model to train: --model, else (with --resume) the one the checkpoint records, else mlp.
     * A --resume checkpoint must be one kiln train wrote, of the same model.
     */
    private String resumedModel() throws java.io.IOException {
        if (resume == null) return model == null ? "mlp" : model;
        CliChecks.requireCheckpoint("train --resume", resume);
        Map<String, String> meta = dev.kiln.compress.ModelCheckpoint.metadata(resume);
        if (meta.containsKey(dev.kiln.compress.ModelCheckpoint.ARCHITECTURE_KEY))
            throw new IllegalArgumentException("train --resume: " + resume + " holds a pruned, fused or quantized model; --resume takes a checkpoint of kiln train --save");
        String recorded = meta.get(dev.kiln.compress.ModelCheckpoint.MODEL_KEY);
        if (model != null && recorded != null && !model.equals(recorded))
            throw new IllegalArgumentException("train --resume: " + resume + " holds a '" + recorded + "' model, not --model " + model);
        return model != null ? model : recorded != null ? recorded : "mlp";
    }

    /** Every numeric option, each named when bad; the learning rate's default follows the optimizer. */
    private void validate() {
        CliChecks.atLeast("train", "--epochs", epochs, 0);
        CliChecks.atLeast("train", "--batch", batch, 1);
        CliChecks.atLeast("train", "--accumulate", accumulate, 1);
        if (limit != null) CliChecks.atLeast("train", "--limit", limit, 1);
        if (threads != null) CliChecks.atLeast("train", "--threads", threads, 1);
        if (lr == null) lr = optimizer.equals("sgd") ? SGD_LR : ADAM_LR;
        CliChecks.inRange("train", "--lr", lr, 0, Double.MAX_VALUE);
        CliChecks.inRange("train", "--momentum", momentum, 0, 1);
        CliChecks.inRange("train", "--weight-decay", weightDecay, 0, Double.MAX_VALUE);
    }

    private Optimizer makeOptimizer(Module net) {
        return switch (optimizer) {
            case "sgd" -> new SGD(net.parameters(), lr, momentum, 0, weightDecay, false);
            case "adam" -> Adam.adam(net.parameters(), lr, 0.9, 0.999, 1e-8, weightDecay);
            case "adamw" -> Adam.adamW(net.parameters(), lr, 0.9, 0.999, 1e-8, weightDecay);
            default -> throw new IllegalArgumentException("train: unknown optimizer '" + optimizer + "' (sgd, adam, adamw)");
        };
    }

    private LrSchedule makeSchedule(Optimizer opt) {
        return switch (schedule) {
            case "none" -> null;
            case "step" -> LrSchedule.step(opt, Math.max(1, epochs / 3), 0.1);
            case "cosine" -> LrSchedule.cosine(opt, Math.max(1, epochs), 0);
            case "exponential" -> LrSchedule.exponential(opt, 0.9);
            default -> throw new IllegalArgumentException("train: unknown schedule '" + schedule + "' (none, step, cosine, exponential)");
        };
    }

    private static ProgressBar bar(int epoch, int total) {
        return new ProgressBarBuilder().setTaskName("epoch " + (epoch + 1)).setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250).continuousUpdate()
                .showSpeed().setUnit(" batches", 1).build();
    }

    /** Resident set size of this process (Linux /proc), or -1 where unavailable. */
    static long rssBytes() { return procStatus("VmRSS:"); }

    /** Peak resident set size of this process (VmHWM), or -1 where unavailable. */
    static long peakRssBytes() { return procStatus("VmHWM:"); }

    private static long procStatus(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith(key)) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (Exception e) {
            // not Linux
        }
        return -1;
    }

    private void writeJson(double acc, List<Double> secs, List<Long> rss, double sps, int trainSize) throws java.io.IOException {
        StringBuilder sb = new StringBuilder("{");
        sb.append(String.format(Locale.ROOT, "\"test_accuracy\": %.6f, \"epoch_seconds\": [", acc));
        for (int i = 0; i < secs.size(); i++) sb.append(i > 0 ? ", " : "").append(String.format(Locale.ROOT, "%.4f", secs.get(i)));
        sb.append("], \"rss_bytes\": [");
        for (int i = 0; i < rss.size(); i++) sb.append(i > 0 ? ", " : "").append(rss.get(i));
        sb.append(String.format(Locale.ROOT, "], \"samples_per_second\": %.2f, \"model\": \"%s\", \"optimizer\": \"%s\", \"batch\": %d, \"lr\": %s, \"threads\": %d, \"train_examples\": %d}%n",
                sps, model, optimizer, batch, lr, CpuConfig.threads(), trainSize));
        dev.kiln.io.AtomicWrite.writeString(json, sb.toString());
    }
}
