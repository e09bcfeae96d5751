package dev.kiln.compress;

import dev.kiln.autograd.GradMode;
import dev.kiln.compress.fuse.Fusion;
import dev.kiln.compress.prune.Criterion;
import dev.kiln.compress.prune.StructuredPruner;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.LayerNorm;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Models of any architecture round-trip through {@link ModelCheckpoint} (structurally pruned and
 * fused ones, plain train checkpoints by model name), and {@link Architecture} text covers every
 * layer kind and rejects bad text clearly.
 */
class ModelCheckpointTest {
    @TempDir Path dir;
    private final Generator gen = new Generator(7);

    @Test void prunedMlpRoundTripsAndIsSmaller() throws Exception {
        Path full = dir.resolve("full.safetensors"), small = dir.resolve("small.safetensors");
        try (Sequential m = Models.mlp(new Generator(1)); Tensor x = Tensor.randn(new Generator(2), 4, 1, 28, 28)) {
            ModelCheckpoint.save(full, m, Map.of("model", "mlp"));
            try (Sequential p = StructuredPruner.prune(m, 0.5, Criterion.L1).model()) {
                ModelCheckpoint.save(small, p, Map.of("model", "mlp", "pruning", "structured 0.5"));
                assertEquals("act Flatten; linear in=784 out=128 bias=true; act ReLU; linear in=128 out=64 bias=true; act ReLU; "
                        + "linear in=64 out=10 bias=true", ModelCheckpoint.metadata(small).get(ModelCheckpoint.ARCHITECTURE_KEY));
                try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(small)) {
                    assertEquals("structured 0.5", l.metadata().get("pruning"));
                    assertEquals(p.parameterCount(), l.model().parameterCount());
                    assertArrayEquals(run(p, x), run(l.model(), x));
                }
            }
        }
        double ratio = Files.size(small) / (double) Files.size(full);
        assertTrue(ratio <= 0.55, "pruned file is " + Files.size(small) + " bytes of " + Files.size(full) + " (" + ratio + ")");
    }

    @Test void prunedCnnWithBatchNormRoundTrips() {
        Path f = dir.resolve("cnn.safetensors");
        Conv2dParams same = Conv2dParams.of(1, 1);
        try (Sequential m = new Sequential(new Conv2d(2, 6, 3, 3, same, true, gen), BatchNorm.batchNorm2d(6), Activation.relu(), Pool2d.max(2),
                new Conv2d(6, 8, 3, 3, same, true, gen), BatchNorm.batchNorm2d(8), Activation.relu(), Activation.flatten(),
                new Linear(32, 5, true, gen), Activation.relu(), new Linear(5, 3, true, gen));
             Tensor x = Tensor.randn(gen, 2, 2, 4, 4)) {
            randomizeBatchNorms(m);
            m.eval();
            try (Sequential p = StructuredPruner.prune(m, 0.5, Criterion.L2).model()) {
                p.add(new Dropout(0.25, gen)).eval();
                ModelCheckpoint.save(f, p, Map.of());
                try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(f)) {
                    l.model().eval();
                    assertEquals(Architecture.describe(p), Architecture.describe(l.model()));
                    assertTrue(Architecture.describe(p).contains("batchnorm c=3 dims=2"), Architecture.describe(p));
                    assertArrayEquals(run(p, x), run(l.model(), x));
                }
            }
        }
    }

    @Test void fusedMlpRoundTrips() {
        try (Sequential mlp = Models.mlp(gen); Sequential fused = Fusion.fuse(mlp); Tensor x = Tensor.rand(gen, 3, 1, 28, 28)) {
            assertRoundTrip(fused, x, "act Flatten; fused_linear in=784 out=256 act=relu; fused_linear in=256 out=128 act=relu; "
                    + "fused_linear in=128 out=10 act=none");
        }
    }

    @Test void fusedCnnWithBatchNormRoundTrips() {
        try (Sequential cnn = Models.cnnBn(gen)) {
            randomizeBatchNorms(cnn);
            try (Sequential fused = Fusion.fuse(cnn); Tensor x = Tensor.rand(gen, 2, 1, 28, 28)) {
                assertRoundTrip(fused, x, null);
                assertTrue(Architecture.describe(fused).startsWith("fused_conv2d in=1 out=16 k=3x3 stride=1x1 pad=1x1 dil=1x1 groups=1 act=relu; "
                        + "pool max k=2x2 stride=2x2 pad=0x0"), Architecture.describe(fused));
            }
        }
    }

    @Test void loadsTrainCheckpointsByModelNameAndRefusesUnnamedOnes() {
        Path f = dir.resolve("train.safetensors"), bare = dir.resolve("bare.safetensors");
        try (Sequential m = Models.mlp(new Generator(1)); SGD opt = new SGD(m.parameters(), 0.1, 0.9, 0, 0, false)) {
            Checkpoint.save(f, m, opt, Map.of("model", "mlp", "epoch", "1"));
            assertFalse(ModelCheckpoint.hasArchitecture(f));
            try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(f)) {
                assertArrayEquals(((Linear) m.get(1)).weight().toFloatArray(), ((Linear) l.model().get(1)).weight().toFloatArray());
                assertEquals("1", l.metadata().get("epoch"));
            }
            Checkpoint.save(bare, m, null, Map.of());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelCheckpoint.load(bare));
        assertTrue(e.getMessage().contains("neither an architecture nor a model name"), e.getMessage());
    }

    @Test void architectureTextCoversEveryLayerKind() {
        String arch = "affine c=4 act=silu; fused_conv2d in=4 out=6 k=3x1 stride=2x1 pad=1x0 dil=1x1 groups=2 act=gelu_tanh; "
                + "conv2d in=6 out=4 k=1x1 stride=1x1 pad=0x0 dil=1x1 groups=1 bias=false; batchnorm c=4 dims=2 eps=0.001 momentum=0.2; "
                + "pool avg k=3x3 stride=2x2 pad=1x1 ceil=true incl=false; pool adaptive out=1x1; act Flatten; "
                + "linear in=4 out=5 bias=false; batchnorm c=5 dims=1 eps=1.0E-5 momentum=0.1; act GELU(tanh); dropout p=0.1; "
                + "fused_linear in=5 out=3 act=none; act LogSoftmax(dim=1); act Softmax(dim=-1)";
        try (Scope s = Scope.open(); Sequential m = Architecture.build(arch)) {
            assertEquals(arch, Architecture.describe(m));
            assertEquals(14, m.size());
            m.eval();
            assertArrayEquals(new int[]{2, 3}, forward(m, Tensor.rand(gen, 2, 4, 5, 4)).shape());
        }
    }

    @Test void badArchitectureTextNamesTheLayer() {
        assertBad("linear in=3", "bad layer 'linear in=3': missing out=");
        assertBad("act ReLU; fused_linear in=4 out=3 act=swish", "bad layer 'fused_linear in=4 out=3 act=swish'");
        assertBad("mystery x=1", "unknown layer kind 'mystery'");
        assertBad("act Swish", "unknown activation 'Swish'");
        assertBad("conv2d in=1 out=2 k=3 stride=1x1 pad=0x0 dil=1x1 groups=1 bias=true", "k=3 is not HxW");
        assertBad("linear in=3 out=2 bias=true colour=red", "unexpected field(s) [colour]");
        assertBad("pool min k=2x2", "pool kind");
        try (Sequential s = new Sequential(new LayerNorm(new int[]{4}, 1e-5, true))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Architecture.describe(s));
            assertTrue(e.getMessage().contains("cannot describe layer LayerNorm"), e.getMessage());
        }
    }

    private static void assertBad(String arch, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Architecture.build(arch).close());
        assertTrue(e.getMessage().startsWith("architecture: ") && e.getMessage().contains(expected), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    /** Saves, reloads and checks the architecture (and, when given, its text) and bit-identical outputs. */
    private void assertRoundTrip(Sequential model, Tensor x, String expectedArch) {
        Path f = dir.resolve("model.safetensors");
        ModelCheckpoint.save(f, model, Map.of("source", "test"));
        try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(f)) {
            assertEquals("test", l.metadata().get("source"));
            assertEquals(Architecture.describe(model), Architecture.describe(l.model()));
            if (expectedArch != null) assertEquals(expectedArch, Architecture.describe(l.model()));
            model.eval();
            l.model().eval();
            assertArrayEquals(run(model, x), run(l.model(), x));
        }
    }

    private static float[] run(Module m, Tensor x) {
        try (Scope s = Scope.open()) {
            return forward(m, x).toFloatArray();
        }
    }

    private static Tensor forward(Module m, Tensor x) {
        try (GradMode.Guard g = GradMode.noGrad()) {
            return m.forward(x);
        }
    }

    /** Gives every BatchNorm non-trivial running statistics and affine parameters. */
    private void randomizeBatchNorms(Sequential m) {
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (Module layer : m.layers()) {
                if (!(layer instanceof BatchNorm bn)) continue;
                bn.runningMean().copyFrom(Tensor.uniform(gen, -0.5, 0.5, bn.runningMean().dtype(), bn.runningMean().shape()));
                bn.runningVar().copyFrom(Tensor.uniform(gen, 0.3, 2.0, bn.runningVar().dtype(), bn.runningVar().shape()));
                bn.weight().copyFrom(Tensor.uniform(gen, 0.3, 2.0, bn.weight().dtype(), bn.weight().shape()));
                bn.bias().copyFrom(Tensor.uniform(gen, -0.5, 0.5, bn.bias().dtype(), bn.bias().shape()));
            }
        }
    }
}
