package dev.kiln.train;

import dev.kiln.autograd.GradMode;
import dev.kiln.data.Batch;
import dev.kiln.data.DataLoader;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Module;
import dev.kiln.optim.GradientAccumulator;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

/**
 * Supervised classification training: cross-entropy, one optimizer step per k micro-batches,
 * every step in its own {@link Scope} so activations and gradients of a step are freed at once.
 */
public final class Trainer {
    private final Module model;
    private final Optimizer opt;
    private final GradientAccumulator acc;

    /** Called after each micro-batch with (batches done, total batches, samples done, mean loss so far). */
    public interface Progress { void update(int done, int total, long samples, double meanLoss); }

    public record EpochStats(double seconds, double meanLoss, long samples) {
        public double samplesPerSecond() { return samples / seconds; }
    }

    public Trainer(Module model, Optimizer opt, int accumulationSteps) {
        this.model = model;
        this.opt = opt;
        this.acc = new GradientAccumulator(opt, accumulationSteps);
    }

    /** The loss of one batch for the model (graph recorded; the step's Scope frees it). */
    @FunctionalInterface
    public interface BatchLoss { Tensor loss(Module model, Batch batch); }

    /** One epoch of cross-entropy training. */
    public EpochStats trainEpoch(DataLoader loader, Progress progress) {
        return trainEpoch(loader, progress, (m, b) -> Loss.crossEntropy(m.forward(b.x()), b.y()));
    }

    /** One epoch with another loss (e.g. distillation); accumulation, scopes and statistics as above. */
    public EpochStats trainEpoch(DataLoader loader, Progress progress, BatchLoss lossFn) {
        model.train();
        long t0 = System.nanoTime();
        double lossSum = 0;
        long samples = 0;
        int done = 0, total = loader.numBatches();
        for (Batch b : loader) {
            try (b; Scope s = Scope.open()) {
                Tensor loss = lossFn.loss(model, b);
                lossSum += loss.item() * b.size();
                samples += b.size();
                acc.backward(loss);
            }
            done++;
            if (progress != null) progress.update(done, total, samples, lossSum / samples);
        }
        acc.flush();
        double secs = (System.nanoTime() - t0) / 1e9;
        return new EpochStats(secs, samples == 0 ? Double.NaN : lossSum / samples, samples);
    }

    /** Classification accuracy over a loader (eval mode, no graph). */
    public static double accuracy(Module model, DataLoader loader) {
        boolean was = model.isTraining();
        model.eval();
        long correct = 0, n = 0;
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (Batch b : loader) {
                try (b; Scope s = Scope.open()) {
                    Tensor pred = model.forward(b.x()).argmax(1, false);
                    correct += (long) pred.eq(b.y().to(pred.dtype())).to(dev.kiln.tensor.DType.I64).sum().item();
                    n += b.size();
                }
            }
        } finally {
            model.setTraining(was);
        }
        return n == 0 ? Double.NaN : correct / (double) n;
    }

    /** Mean cross-entropy over a loader (eval mode, no graph). */
    public static double meanLoss(Module model, DataLoader loader) {
        boolean was = model.isTraining();
        model.eval();
        double sum = 0;
        long n = 0;
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (Batch b : loader) {
                try (b; Scope s = Scope.open()) {
                    sum += Loss.crossEntropy(model.forward(b.x()), b.y()).item() * b.size();
                    n += b.size();
                }
            }
        } finally {
            model.setTraining(was);
        }
        return sum / n;
    }
}
