package dev.kiln.compress.distill;

import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Trainer;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DistillTrainer on synthetic data: alpha = 0 is the label-only Trainer, cached and live teachers agree. */
class DistillTrainerTest {
    private static TensorDataset data(int n) {
        Generator g = new Generator(3);
        Tensor x = Tensor.randn(g, n, 12);
        long[] y = new long[n];
        for (int i = 0; i < n; i++) y[i] = (x.getDouble(i, 0) + x.getDouble(i, 1) > 0 ? 1 : 0) + (x.getDouble(i, 2) > 0.5 ? 2 : 0);
        return new TensorDataset(x, Tensor.fromArray(y, n));
    }

    private static Sequential student(long seed) {
        Generator g = new Generator(seed);
        return new Sequential(new Linear(12, 8, true, g), Activation.relu(), new Linear(8, 4, true, g));
    }

    private static void assertSameParams(Sequential a, Sequential b, double tol) {
        List<Tensor> pa = a.parameters(), pb = b.parameters();
        for (int i = 0; i < pa.size(); i++)
            for (long j = 0; j < pa.get(i).numel(); j++) assertEquals(pa.get(i).getFlat(j), pb.get(i).getFlat(j), tol, "param " + i + "[" + j + "]");
    }

    @Test void alphaZeroIsTheLabelOnlyTrainer() {
        try (TensorDataset d = data(96); Sequential teacher = student(9); Sequential a = student(1); Sequential b = student(1);
             TeacherTargets tt = TeacherTargets.compute(teacher, d, 40);
             DataLoader la = DataLoader.builder(d).batchSize(16).shuffle(5).prefetch(false).build();
             DataLoader lb = DataLoader.builder(tt).batchSize(16).shuffle(5).prefetch(false).build();
             SGD oa = new SGD(a.parameters(), 0.1, 0.9, 0, 0, false); SGD ob = new SGD(b.parameters(), 0.1, 0.9, 0, 0, false)) {
            new Trainer(a, oa, 1).trainEpoch(la, null);
            new DistillTrainer(b, null, ob, new DistillLoss.Config(4, 0), 1).trainEpoch(lb, null);
            assertSameParams(a, b, 0);
        }
    }

    @Test void cachedTeacherLogitsEqualLiveTeacher() {
        try (TensorDataset d = data(80); Sequential teacher = student(9); Sequential a = student(1); Sequential b = student(1);
             TeacherTargets tt = TeacherTargets.compute(teacher, d, 33);
             DataLoader la = DataLoader.builder(d).batchSize(16).shuffle(2).prefetch(false).build();
             DataLoader lb = DataLoader.builder(tt).batchSize(16).shuffle(2).prefetch(false).build();
             SGD oa = new SGD(a.parameters(), 0.1); SGD ob = new SGD(b.parameters(), 0.1)) {
            assertEquals(4, tt.classes());
            DistillLoss.Config c = new DistillLoss.Config(3, 0.8);
            Trainer.EpochStats sa = new DistillTrainer(a, teacher, oa, c, 1).trainEpoch(la, null);
            Trainer.EpochStats sb = new DistillTrainer(b, null, ob, c, 1).trainEpoch(lb, null);
            assertEquals(sa.meanLoss(), sb.meanLoss(), 1e-6);
            assertSameParams(a, b, 1e-6);
            assertTrue(teacher.parameters().getFirst().grad() == null, "teacher untouched");
        }
    }

    @Test void packedTargetsRoundTrip() {
        try (TensorDataset d = data(10); Sequential teacher = student(9); TeacherTargets tt = TeacherTargets.compute(teacher, d, 4);
             var b = tt.batch(new int[]{7, 2})) {
            Tensor labels = TeacherTargets.labels(b.y()), logits = TeacherTargets.teacherLogits(b.y());
            assertEquals(DType.I64, labels.dtype());
            assertEquals(d.labels().getLong(7), labels.getLong(0));
            assertEquals(d.labels().getLong(2), labels.getLong(1));
            teacher.eval();
            Tensor want = teacher.forward(d.features().narrow(0, 2, 1));
            for (int j = 0; j < 4; j++) assertEquals(want.getDouble(0, j), logits.getDouble(1, j), 1e-6);
        }
    }

    @Test void distillationNeedsATeacher() {
        try (TensorDataset d = data(8); Sequential s = student(1); SGD o = new SGD(s.parameters(), 0.1);
             DataLoader l = DataLoader.builder(d).batchSize(4).prefetch(false).build()) {
            assertThrows(IllegalArgumentException.class, () -> new DistillTrainer(s, null, o, new DistillLoss.Config(2, 0.5), 1).trainEpoch(l, null));
        }
    }
}
