package dev.kiln.compress.distill;

import dev.kiln.autograd.GradMode;
import dev.kiln.data.DataLoader;
import dev.kiln.nn.Module;
import dev.kiln.optim.Optimizer;
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
 * Epochs run through {@link Trainer} with the distillation loss (one Scope per step).
 */
public final class DistillTrainer {
    private final Module teacher;
    private final DistillLoss.Config config;
    private final Trainer trainer;

    /** teacher may be null when every loader is over {@link TeacherTargets}. */
    public DistillTrainer(Module student, Module teacher, Optimizer opt, DistillLoss.Config config, int accumulationSteps) {
        this.teacher = teacher;
        this.config = config;
        this.trainer = new Trainer(student, opt, accumulationSteps);
    }

    public Trainer.EpochStats trainEpoch(DataLoader loader, Trainer.Progress progress) {
        boolean cached = loader.dataset() instanceof TeacherTargets;
        if (!cached && teacher == null)
            throw new IllegalArgumentException("distill: no teacher module and the loader's dataset has no precomputed teacher logits");
        if (teacher != null) teacher.eval();
        return trainer.trainEpoch(loader, progress, (student, b) -> cached
                ? DistillLoss.loss(student.forward(b.x()), TeacherTargets.teacherLogits(b.y()), TeacherTargets.labels(b.y()), config)
                : DistillLoss.loss(student.forward(b.x()), teacherLogits(b.x()), b.y(), config));
    }

    private Tensor teacherLogits(Tensor x) {
        try (GradMode.Guard g = GradMode.noGrad()) {
            return teacher.forward(x);
        }
    }
}
