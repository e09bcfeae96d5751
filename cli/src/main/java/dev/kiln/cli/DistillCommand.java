package dev.kiln.cli;

import dev.kiln.backend.cpu.CpuConfig;
import dev.kiln.compress.distill.DistillLoss;
import dev.kiln.compress.distill.DistillTrainer;
import dev.kiln.compress.distill.TeacherTargets;
import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Module;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import dev.kiln.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * `kiln distill`: knowledge distillation of a trained teacher into a small student, measured
 * against the same student trained on labels alone (same seed, same epochs, same batches). The
 * teacher's logits over the training set are computed once ({@link TeacherTargets}).
 */
@Command(name = "distill", mixinStandardHelpOptions = true,
        description = "Distill a trained teacher into a small student and compare with the student trained on labels alone.")
public final class DistillCommand implements Callable<Integer> {
    @Option(names = "--teacher", required = true, description = "Teacher checkpoint (from kiln train --save).") Path teacherPath;
    @Option(names = "--teacher-model", description = "Teacher architecture, for a checkpoint that does not record it (default: the one recorded in the checkpoint).") String teacherModel;
    @Option(names = "--student-model", defaultValue = "mlp-small", description = "Student architecture (default: ${DEFAULT-VALUE}).") String studentModel;
    @Option(names = "--temperature", defaultValue = "2", description = "Softmax temperature T (default: ${DEFAULT-VALUE}).") double temperature;
    @Option(names = "--alpha", defaultValue = "0.5", description = "Weight of the teacher term (default: ${DEFAULT-VALUE}).") double alpha;
    @Option(names = "--epochs", defaultValue = "1", description = "Training epochs of each student (default: ${DEFAULT-VALUE}).") int epochs;
    @Option(names = "--batch", defaultValue = "64", description = "Mini-batch size (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--lr", defaultValue = "0.05", description = "SGD learning rate (default: ${DEFAULT-VALUE}).") double lr;
    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum (default: ${DEFAULT-VALUE}).") double momentum;
    @Option(names = "--seeds", defaultValue = "0", split = ",", description = "Seeds to run (each: both students), e.g. 0,1,2.") List<Long> seeds;
    @Option(names = "--data", defaultValue = "fashion-mnist", description = "fashion-mnist (default) or a directory with its IDX files.") String data;
    @Option(names = "--limit", description = "Use only the first N training examples.") Integer limit;
    @Option(names = "--timing-budget", defaultValue = "1.5", description = "Seconds spent timing each latency (default: ${DEFAULT-VALUE}).") double timingBudget;
    @Option(names = "--threads", description = "CPU threads (default: all cores).") Integer threads;
    @Option(names = "--out", required = true, description = "Checkpoint of the distilled student (first seed).") Path out;

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    private record Run(long seed, double labelsAcc, double distilledAcc, double labelsSecs, double distilledSecs) {}

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
        DistillLoss.Config cfg = new DistillLoss.Config(temperature, alpha);
        CliChecks.atLeast("distill", "--epochs", epochs, 1);
        CliChecks.atLeast("distill", "--batch", batch, 1);
        CliChecks.positive("distill", "--lr", lr);
        CliChecks.inRange("distill", "--momentum", momentum, 0, 1);
        CliChecks.positive("distill", "--temperature", temperature);
        CliChecks.inRange("distill", "--alpha", alpha, 0, 1);
        CliChecks.positive("distill", "--timing-budget", timingBudget);
        if (limit != null) CliChecks.atLeast("distill", "--limit", limit, 1);
        if (threads != null) CliChecks.atLeast("distill", "--threads", threads, 1);
        CliChecks.requireCheckpoint("distill --teacher", teacherPath);
        if (!Models.NAMES.contains(studentModel))
            throw new IllegalArgumentException("distill: unknown student model '" + studentModel + "' (expected one of " + Models.NAMES + ")");
        if (threads != null) CpuConfig.setThreads(threads);
        try (FashionData.Sets d = FashionData.load(data, limit, "distill");
             Module teacher = CompressSupport.loadModel("distill --teacher", "--teacher-model", teacherModel, teacherPath);
             DataLoader testLoader = DataLoader.builder(d.test()).batchSize(1000).prefetch(false).build()) {
            pw.println(d.note());
            double teacherAcc = Trainer.accuracy(teacher, testLoader);
            long t0 = System.nanoTime();
            List<Run> runs = new ArrayList<>();
            long studentParams;
            double studentB64, studentB1;
            try (TeacherTargets targets = TeacherTargets.compute(teacher, d.train(), 500)) {
                pw.printf(Locale.ROOT, "teacher %s: test accuracy %.4f; logits over %d training images in %.1f s%n", teacherModel, teacherAcc,
                        d.train().size(), (System.nanoTime() - t0) / 1e9);
                pw.printf(Locale.ROOT, "student %s: T = %s, alpha = %s, %d epoch(s), batch %d, SGD lr %s momentum %s, %d threads%n",
                        studentModel, temperature, alpha, epochs, batch, lr, momentum, CpuConfig.threads());
                pw.printf("%-6s %14s %14s %10s %10s %10s%n", "seed", "labels acc", "distilled acc", "gain", "labels s", "distill s");
                pw.flush();
                for (long seed : seeds) {
                    Run r = runSeed(seed, d.train(), targets, testLoader, cfg, seed == seeds.getFirst());
                    runs.add(r);
                    pw.printf(Locale.ROOT, "%-6d %14.4f %14.4f %+10.4f %10.1f %10.1f%n", seed, r.labelsAcc, r.distilledAcc,
                            r.distilledAcc - r.labelsAcc, r.labelsSecs, r.distilledSecs);
                    pw.flush();
                }
            }
            try (Module student = Models.byName(studentModel, new Generator(0))) {
                studentParams = student.parameterCount();
                studentB64 = CompressSupport.latency(student, d.test(), 64, timingBudget);
                studentB1 = CompressSupport.latency(student, d.test(), 1, timingBudget);
            }
            summary(pw, teacher, teacherAcc, runs, studentParams, studentB64, studentB1, d.test());
            pw.println("distilled student (seed " + seeds.getFirst() + ") saved to " + out);
            return Main.OK;
        }
    }

    private Run runSeed(long seed, TensorDataset train, TeacherTargets targets, DataLoader test, DistillLoss.Config cfg, boolean save) {
        double labelsAcc, distilledAcc;
        long t0 = System.nanoTime();
        try (Module s = Models.byName(studentModel, new Generator(seed)); Optimizer opt = sgd(s);
             DataLoader loader = DataLoader.builder(train).batchSize(batch).shuffle(seed).build()) {
            Trainer t = new Trainer(s, opt, 1);
            for (int e = 0; e < epochs; e++) t.trainEpoch(loader, null);
            labelsAcc = Trainer.accuracy(s, test);
        }
        long t1 = System.nanoTime();
        try (Module s = Models.byName(studentModel, new Generator(seed)); Optimizer opt = sgd(s);
             DataLoader loader = DataLoader.builder(targets).batchSize(batch).shuffle(seed).build()) {
            DistillTrainer t = new DistillTrainer(s, null, opt, cfg, 1);
            for (int e = 0; e < epochs; e++) t.trainEpoch(loader, null);
            distilledAcc = Trainer.accuracy(s, test);
            if (save) Checkpoint.save(out, s, null, Map.of("model", studentModel, "epoch", Integer.toString(epochs),
                    "distilled_from", teacherModel, "temperature", Double.toString(cfg.temperature()), "alpha", Double.toString(cfg.alpha())));
        }
        return new Run(seed, labelsAcc, distilledAcc, (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9);
    }

    private Optimizer sgd(Module m) { return new SGD(m.parameters(), lr, momentum, 0, 0, false); }

    private void summary(PrintWriter pw, Module teacher, double teacherAcc, List<Run> runs, long studentParams, double b64, double b1,
                         TensorDataset test) throws Exception {
        double tb64 = CompressSupport.latency(teacher, test, 64, timingBudget), tb1 = CompressSupport.latency(teacher, test, 1, timingBudget);
        double[] lab = runs.stream().mapToDouble(Run::labelsAcc).toArray(), dis = runs.stream().mapToDouble(Run::distilledAcc).toArray();
        long wins = runs.stream().filter(r -> r.distilledAcc > r.labelsAcc).count();
        pw.println();
        pw.printf("%-32s %12s %16s %14s %12s%n", "model", "params", "test acc", "b64 latency", "b1 latency");
        pw.printf(Locale.ROOT, "%-32s %,12d %16s %11.3f ms %9.3f ms%n", "teacher " + teacherModel, teacher.parameterCount(),
                String.format(Locale.ROOT, "%.4f", teacherAcc), tb64 * 1e3, tb1 * 1e3);
        pw.printf(Locale.ROOT, "%-32s %,12d %16s %11.3f ms %9.3f ms%n", "student " + studentModel + ", labels only", studentParams,
                meanSd(lab), b64 * 1e3, b1 * 1e3);
        pw.printf(Locale.ROOT, "%-32s %,12d %16s %11.3f ms %9.3f ms%n", "student " + studentModel + ", distilled", studentParams,
                meanSd(dis), b64 * 1e3, b1 * 1e3);
        pw.printf(Locale.ROOT, "distilled student better than the labels-only student in %d of %d seed(s); mean gain %+.4f%n",
                wins, runs.size(), mean(dis) - mean(lab));
    }

    private static double mean(double[] v) { return java.util.Arrays.stream(v).average().orElse(Double.NaN); }

    private static String meanSd(double[] v) {
        if (v.length == 1) return String.format(Locale.ROOT, "%.4f", v[0]);
        double m = mean(v), ss = 0;
        for (double x : v) ss += (x - m) * (x - m);
        return String.format(Locale.ROOT, "%.4f+-%.4f", m, Math.sqrt(ss / (v.length - 1)));
    }
}
