package dev.kiln.compress.distill;

import dev.kiln.autograd.GradMode;
import dev.kiln.data.Batch;
import dev.kiln.data.DataLoader;
import dev.kiln.nn.Module;
import dev.kiln.optim.GradientAccumulator;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Trainer;

/**
 * Trains a student against a fixed teacher with {@link DistillLoss}. The teacher runs in eval mode
 * with no graph (only the student gets gradients). Two sources of teacher logits:
 * <ul>
 *   <li>a loader over {@link TeacherTargets}: logits computed once, read from each batch's packed
 *       target (the fast path: the teacher's cost is paid once, not every epoch);</li>
 *   <li>a loader over a plain dataset: the teacher module runs on every batch.</li>
 * </ul>
 * Each step runs in its own {@link Scope}, like {@link Trainer}.
 */
public final class DistillTrainer {
    private final Module student;
    private final Module teacher;
    private final DistillLoss.Config config;
    private final GradientAccumulator acc;

    /** teacher may be null when every loader is over {@link TeacherTargets}. */
    public DistillTrainer(Module student, Module teacher, Optimizer opt, DistillLoss.Config config, int accumulationSteps) {
        this.student = student;
        this.teacher = teacher;
        this.config = config;
        this.acc = new GradientAccumulator(opt, accumulationSteps);
    }

    public Trainer.EpochStats trainEpoch(DataLoader loader, Trainer.Progress progress) {
        boolean cached = loader.dataset() instanceof TeacherTargets;
        if (!cached && teacher == null)
            throw new IllegalArgumentException("distill: no teacher module and the loader's dataset has no precomputed teacher logits");
        student.train();
        if (teacher != null) teacher.eval();
        long t0 = System.nanoTime();
        double lossSum = 0;
        long samples = 0;
        int done = 0, total = loader.numBatches();
        for (Batch b : loader) {
            try (b; Scope s = Scope.open()) {
                Tensor loss = cached ? step(b.x(), TeacherTargets.teacherLogits(b.y()), TeacherTargets.labels(b.y()))
                        : step(b.x(), teacherLogits(b.x()), b.y());
                lossSum += loss.item() * b.size();
                samples += b.size();
                acc.backward(loss);
            }
            done++;
            if (progress != null) progress.update(done, total, samples, lossSum / samples);
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        return new Trainer.EpochStats(secs, samples == 0 ? Double.NaN : lossSum / samples, samples);
    }

    private Tensor step(Tensor x, Tensor teacherLogits, Tensor labels) {
        return DistillLoss.loss(student.forward(x), teacherLogits, labels, config);
    }

    private Tensor teacherLogits(Tensor x) {
        try (GradMode.Guard g = GradMode.noGrad()) {
            return teacher.forward(x);
        }
    }
}
