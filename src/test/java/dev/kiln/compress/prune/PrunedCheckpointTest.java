package dev.kiln.compress.prune;

import dev.kiln.nn.Dropout;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Structurally pruned models round-trip through Kiln checkpoints (architecture in the metadata). */
class PrunedCheckpointTest {
    @TempDir Path dir;

    @Test void prunedMlpRoundTripsAndIsSmaller() throws Exception {
        Path full = dir.resolve("full.safetensors"), small = dir.resolve("small.safetensors");
        try (Sequential m = Models.mlp(new Generator(1)); Tensor x = Tensor.randn(new Generator(2), 4, 1, 28, 28)) {
            PrunedCheckpoint.save(full, m, Map.of("model", "mlp"));
            try (Sequential p = StructuredPruner.prune(m, 0.5, Criterion.L1).model()) {
                PrunedCheckpoint.save(small, p, Map.of("model", "mlp", "pruning", "structured 0.5"));
                assertEquals("flatten; linear 784 128 bias; act ReLU; linear 128 64 bias; act ReLU; linear 64 10 bias",
                        PrunedCheckpoint.metadata(small).get(Architecture.METADATA_KEY));
                try (PrunedCheckpoint.Loaded l = PrunedCheckpoint.load(small)) {
                    assertEquals("structured 0.5", l.metadata().get("pruning"));
                    assertEquals(p.parameterCount(), l.model().parameterCount());
                    assertArrayEquals(StructuredPrunerTest.run(p, x), StructuredPrunerTest.run(l.model(), x));
                }
            }
        }
        double ratio = Files.size(small) / (double) Files.size(full);
        assertTrue(ratio <= 0.55, "pruned file is " + Files.size(small) + " bytes of " + Files.size(full) + " (" + ratio + ")");
    }

    @Test void prunedCnnWithBatchNormRoundTrips() {
        Path f = dir.resolve("cnn.safetensors");
        Generator g = new Generator(4);
        try (Sequential m = StructuredPrunerTest.cnn(g); Tensor x = Tensor.randn(g, 2, 2, 4, 4);
             Sequential p = StructuredPruner.prune(m, 0.5, Criterion.L2).model()) {
            p.add(new Dropout(0.25, g)).eval();
            PrunedCheckpoint.save(f, p, Map.of());
            try (PrunedCheckpoint.Loaded l = PrunedCheckpoint.load(f)) {
                l.model().eval();
                assertEquals(Architecture.describe(p), Architecture.describe(l.model()));
                assertArrayEquals(StructuredPrunerTest.run(p, x), StructuredPrunerTest.run(l.model(), x));
            }
        }
    }

    @Test void loadsTrainCheckpointsByModelNameAndRejectsUnknown() {
        Path f = dir.resolve("train.safetensors");
        try (Sequential m = Models.mlp(new Generator(1)); SGD opt = new SGD(m.parameters(), 0.1, 0.9, 0, 0, false)) {
            Checkpoint.save(f, m, opt, Map.of("model", "mlp", "epoch", "1"));
            try (PrunedCheckpoint.Loaded l = PrunedCheckpoint.load(f)) {
                assertArrayEquals(((Linear) m.get(1)).weight().toFloatArray(), ((Linear) l.model().get(1)).weight().toFloatArray());
            }
            Path bare = dir.resolve("bare.safetensors");
            Checkpoint.save(bare, m, null, Map.of());
            assertThrows(IllegalArgumentException.class, () -> PrunedCheckpoint.load(bare));
        }
        assertThrows(IllegalArgumentException.class, () -> Architecture.build("linear 3", new Generator(0)));
    }
}
