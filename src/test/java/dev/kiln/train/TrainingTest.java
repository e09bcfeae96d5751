package dev.kiln.train;

import dev.kiln.data.DataLoader;
import dev.kiln.data.FashionMnist;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.Adam;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Storage;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** End-to-end training on the embedded Fashion-MNIST subset: learning, checkpoints, memory. */
class TrainingTest {
    @Test void mlpLearnsOnEmbeddedData() {
        try (TensorDataset train = FashionMnist.embedded(true); TensorDataset test = FashionMnist.embedded(false);
             Sequential m = Models.mlp(new Generator(0)); Optimizer opt = new SGD(m.parameters(), 0.05, 0.9, 0, 0, false);
             DataLoader tl = DataLoader.builder(train).batchSize(64).shuffle(1).build();
             DataLoader el = DataLoader.builder(test).batchSize(500).build()) {
            double before = Trainer.accuracy(m, el);
            Trainer t = new Trainer(m, opt, 1);
            Trainer.EpochStats s1 = t.trainEpoch(tl, null);
            Trainer.EpochStats s2 = t.trainEpoch(tl, null);
            double after = Trainer.accuracy(m, el);
            assertTrue(s2.meanLoss() < s1.meanLoss(), "loss falls: " + s1.meanLoss() + " -> " + s2.meanLoss());
            assertTrue(after > 0.65 && after > before + 0.3, "accuracy " + before + " -> " + after);
        }
    }

    @Test void cnnLearnsOnEmbeddedData() {
        try (TensorDataset train = FashionMnist.embedded(true); TensorDataset test = FashionMnist.embedded(false);
             Sequential m = Models.cnn(new Generator(0)); Optimizer opt = new SGD(m.parameters(), 0.05, 0.9, 0, 0, false);
             DataLoader tl = DataLoader.builder(train).batchSize(64).shuffle(1).build();
             DataLoader el = DataLoader.builder(test).batchSize(500).build()) {
            new Trainer(m, opt, 1).trainEpoch(tl, null);
            double acc = Trainer.accuracy(m, el);
            assertTrue(acc > 0.6, "cnn accuracy after one small epoch: " + acc);
        }
    }

    /** Saving, then resuming into fresh objects, gives exactly the next-step loss of the original run. */
    @Test void resumeGivesTheSameNextStepLoss(@TempDir Path dir) {
        Path ck = dir.resolve("ck.safetensors");
        try (TensorDataset train = FashionMnist.embedded(true)) {
            Tensor x = train.features().narrow(0, 0, 64), y = train.labels().narrow(0, 0, 64);
            double expected;
            try (Sequential m = Models.mlp(new Generator(3)); Optimizer opt = Adam.adamW(m.parameters(), 1e-3)) {
                for (int i = 0; i < 3; i++) step(m, opt, x, y);
                Checkpoint.save(ck, m, opt, Map.of("epoch", "1"));
                expected = step(m, opt, x, y);
                expected = step(m, opt, x, y);
            }
            assertTrue(Files.exists(ck));
            try (Sequential m = Models.mlp(new Generator(99)); Optimizer opt = Adam.adamW(m.parameters(), 1e-3)) {
                Map<String, String> meta = Checkpoint.load(ck, m, opt);
                assertEquals("1", meta.get("epoch"));
                step(m, opt, x, y);
                assertEquals(expected, step(m, opt, x, y), 0.0, "bitwise-equal resume");
            }
        }
    }

    @Test void checkpointMismatchIsAClearError(@TempDir Path dir) {
        Path ck = dir.resolve("ck.safetensors");
        try (Sequential m = Models.mlp(new Generator(3)); Sequential c = Models.cnn(new Generator(3))) {
            Checkpoint.save(ck, m, null, Map.of());
            var e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.load(ck, c, null));
            assertTrue(e.getMessage().contains("ck.safetensors") && e.getMessage().contains("missing keys"), e.getMessage());
        }
    }

    /** Many training steps hold live off-heap memory flat (everything of a step is freed). */
    @Test void trainingStepsHoldMemoryFlat() {
        try (TensorDataset train = FashionMnist.embedded(true); Sequential m = Models.mlp(new Generator(3));
             Optimizer opt = new SGD(m.parameters(), 0.01, 0.9, 0, 0, false)) {
            Tensor x = train.features().narrow(0, 0, 64), y = train.labels().narrow(0, 0, 64);
            for (int i = 0; i < 5; i++) step(m, opt, x, y);
            long base = Storage.liveBytes();
            int baseCount = Storage.liveCount();
            for (int i = 0; i < 200; i++) step(m, opt, x, y);
            // <= rather than ==: the Cleaner may free other tests' dropped tensors meanwhile; a leak of
            // even one tensor per step would add 200
            assertTrue(Storage.liveCount() <= baseCount, "live tensors after 200 steps: " + Storage.liveCount() + " > " + baseCount);
            assertTrue(Storage.liveBytes() <= base, "live bytes after 200 steps: " + Storage.liveBytes() + " > " + base);
        }
    }

    private static double step(Sequential m, Optimizer opt, Tensor x, Tensor y) {
        try (Scope s = Scope.open()) {
            opt.zeroGrad();
            Tensor loss = Loss.crossEntropy(m.forward(x), y);
            loss.backward();
            opt.step();
            return loss.item();
        }
    }
}
