package dev.kiln.compress.distill;

import dev.kiln.autograd.GradMode;
import dev.kiln.data.Batch;
import dev.kiln.data.DataLoader;
import dev.kiln.data.Dataset;
import dev.kiln.data.Example;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Module;
import dev.kiln.ops.Join;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * A training set with the teacher's logits computed once: the teacher is fixed (eval mode, no
 * gradient), so running it every epoch repeats the same work. Each batch's target is packed as
 * one float tensor [B, 1 + C]: column 0 the class label (exact in float32 below 2^24), columns
 * 1..C the teacher logits; {@link #labels} and {@link #teacherLogits} unpack it. The features are
 * those of the wrapped dataset, so a {@link DataLoader} over this dataset yields the same inputs
 * in the same order as one over the plain dataset with the same seed.
 */
public final class TeacherTargets implements Dataset, AutoCloseable {
    private final TensorDataset packed;

    private TeacherTargets(TensorDataset packed) { this.packed = packed; }

    /** Runs the teacher over every example of data (eval mode, no graph) in batches of batchSize. */
    public static TeacherTargets compute(Module teacher, TensorDataset data, int batchSize) {
        boolean was = teacher.isTraining();
        teacher.eval();
        List<Tensor> parts = new ArrayList<>();
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (int i = 0; i < data.size(); i += batchSize) {
                int n = Math.min(batchSize, data.size() - i);
                try (Scope s = Scope.open()) {
                    Tensor x = data.features().narrow(0, i, n);
                    Tensor y = data.labels().narrow(0, i, n).to(DType.F32).reshape(n, 1);
                    Tensor logits = teacher.forward(x).to(DType.F32);
                    parts.add(Scope.escape(Join.cat(new Tensor[]{y, logits}, 1)));
                }
            }
        } finally {
            teacher.setTraining(was);
        }
        Tensor targets = Join.cat(parts.toArray(Tensor[]::new), 0);
        parts.forEach(Tensor::close);
        return of(data.features(), targets);
    }

    /** Wraps features (a view is kept, the caller still owns them) and packed targets [N, 1 + C] (owned). */
    public static TeacherTargets of(Tensor features, Tensor packedTargets) {
        if (packedTargets.dim() != 2 || packedTargets.size(1) < 2)
            throw new IllegalArgumentException("TeacherTargets: packed targets must be [N, 1 + C], got " + Shape.str(packedTargets.shape()));
        return new TeacherTargets(new TensorDataset(features.detach(), packedTargets));
    }

    @Override public int size() { return packed.size(); }
    @Override public Example get(int i) { return packed.get(i); }
    @Override public Batch batch(int[] indices) { return packed.batch(indices); }

    /** Number of classes C. */
    public int classes() { return packed.labels().size(1) - 1; }

    /** Class labels (I64) [B] of a packed target [B, 1 + C]. */
    public static Tensor labels(Tensor packedTarget) { return packedTarget.select(1, 0).to(DType.I64); }

    /** Teacher logits [B, C] of a packed target [B, 1 + C] (a view). */
    public static Tensor teacherLogits(Tensor packedTarget) { return packedTarget.narrow(1, 1, packedTarget.size(1) - 1); }

    /** Frees the packed targets and this dataset's view of the features. */
    @Override
    public void close() { packed.close(); }
}
