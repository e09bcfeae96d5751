package dev.kiln.compress.fuse;

import dev.kiln.autograd.GradMode;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.LayerNorm;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Models;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fused models compute what the original computes in eval mode (1e-5 relative); saving them: ModelCheckpointTest. */
class FusionTest {
    private final Generator gen = new Generator(11);
    private Scope scope;

    @BeforeEach void open() { scope = Scope.open(); }
    @AfterEach void close() { scope.close(); }

    /** max |a - b| <= 1e-5 * max |b|. */
    static void assertClose(Tensor want, Tensor got) {
        assertEquals(java.util.Arrays.toString(want.shape()), java.util.Arrays.toString(got.shape()));
        double maxRef = 0, maxErr = 0;
        for (long i = 0; i < want.numel(); i++) {
            maxRef = Math.max(maxRef, Math.abs(want.getFlat(i)));
            maxErr = Math.max(maxErr, Math.abs(want.getFlat(i) - got.getFlat(i)));
        }
        assertTrue(maxErr <= 1e-5 * maxRef, "max error " + maxErr + " vs max |output| " + maxRef);
    }

    private static Tensor evalForward(Module m, Tensor x) {
        boolean was = m.isTraining();
        m.eval();
        try (GradMode.Guard g = GradMode.noGrad()) {
            return m.forward(x);
        } finally {
            m.setTraining(was);
        }
    }

    /** Gives every BatchNorm non-trivial running statistics and affine parameters. */
    private void randomizeBatchNorms(Module m) {
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (var e : m.stateDict().entrySet()) {
                Tensor t = e.getValue();
                String k = e.getKey();
                if (k.endsWith("running_mean") || k.endsWith(".bias") && t.dim() == 1 && isBn(m, k)) t.copyFrom(Tensor.uniform(gen, -0.5, 0.5, t.dtype(), t.shape()));
                if (k.endsWith("running_var") || k.endsWith(".weight") && isBn(m, k)) t.copyFrom(Tensor.uniform(gen, 0.3, 2.0, t.dtype(), t.shape()));
            }
        }
    }

    private static boolean isBn(Module m, String key) {
        return m.stateDict().containsKey(key.substring(0, key.lastIndexOf('.')) + ".running_mean");
    }

    @Test void mlpFusesActivationsIntoLinears() {
        try (Sequential mlp = Models.mlp(gen); Sequential fused = Fusion.fuse(mlp)) {
            Tensor x = Tensor.rand(gen, 7, 1, 28, 28);
            assertClose(evalForward(mlp, x), evalForward(fused, x));
            assertEquals(4, fused.size(), fused.toString()); // Flatten, Linear+ReLU, Linear+ReLU, Linear
            assertEquals(Epilogue.RELU, ((FusedLinear) fused.get(1)).epilogue());
            assertEquals(Epilogue.NONE, ((FusedLinear) fused.get(3)).epilogue());
            assertEquals(mlp.parameterCount(), fused.parameterCount());
            assertFalse(fused.isTraining());
        }
    }

    @Test void cnnWithBatchNormFoldsIntoConvsAndLinear() {
        try (Sequential cnn = Models.cnnBn(gen)) {
            randomizeBatchNorms(cnn);
            assertTrue(Math.abs(cnn.stateDict().get("1.running_var").getFlat(0) - 1) > 1e-3, "statistics randomized");
            assertTrue(Math.abs(cnn.stateDict().get("1.bias").getFlat(0)) > 1e-4, "shift randomized");
            cnn.train(); // fusing uses the running statistics whatever the mode, and leaves the mode alone
            Fusion.Result r = Fusion.fuseWithLog(cnn);
            try (Sequential fused = r.model()) {
                assertTrue(cnn.isTraining());
                Tensor x = Tensor.rand(gen, 3, 1, 28, 28);
                assertClose(evalForward(cnn, x), evalForward(fused, x));
                // Conv+ReLU, Pool, Conv+ReLU, Pool, Flatten, Linear+ReLU, Linear: BN folded, Dropout gone
                assertEquals(7, fused.size(), fused.toString());
                assertInstanceOf(FusedConv2d.class, fused.get(0));
                assertEquals(Epilogue.RELU, ((FusedConv2d) fused.get(0)).epilogue());
                assertEquals(3, r.log().stream().filter(s -> s.startsWith("folded")).count(), r.log().toString());
                assertTrue(fused.parameterCount() < cnn.parameterCount());
                assertTrue(fused.namedBuffers().isEmpty(), "no running stats left");
            }
        }
    }

    @Test void linearChainsMerge() {
        Sequential chain = new Sequential(new Linear(20, 30, true, gen), new Dropout(0.5, gen), new Linear(30, 10, true, gen),
                BatchNorm.batchNorm1d(10), Activation.identity(), new Linear(10, 16, false, gen), Activation.tanh(),
                new Sequential(new Linear(16, 8, true, gen), new Linear(8, 5, true, gen)));
        try (chain) {
            randomizeBatchNorms(chain);
            Fusion.Result r = Fusion.fuseWithLog(chain);
            try (Sequential fused = r.model()) {
                Tensor x = Tensor.randn(gen, 9, 20);
                assertClose(evalForward(chain, x), evalForward(fused, x));
                // (20->30->10, BN) -> 20x10 merged; then 10->16 merges too (no nonlinearity), + tanh; 16->8->5 merged
                assertEquals(2, fused.size(), fused.toString());
                FusedLinear first = (FusedLinear) fused.get(0), second = (FusedLinear) fused.get(1);
                assertEquals(20, first.inFeatures());
                assertEquals(16, first.outFeatures());
                assertEquals(Epilogue.TANH, first.epilogue());
                assertEquals(5, second.outFeatures());
                Tensor x3 = Tensor.randn(gen, 2, 3, 20); // 3-d input through merged linears (no BN here)
                try (Sequential plain = new Sequential(new Linear(20, 6, true, gen), new Linear(6, 4, true, gen)); Sequential f2 = Fusion.fuse(plain)) {
                    assertEquals(1, f2.size());
                    assertClose(evalForward(plain, x3), evalForward(f2, x3));
                }
            }
        }
    }

    @Test void bottlenecksStayUnmergedAndLoneBatchNormBecomesAffine() {
        try (Sequential m = new Sequential(BatchNorm.batchNorm2d(2), Activation.relu(), Activation.flatten(),
                new Linear(32, 3, true, gen), new Linear(3, 32, true, gen))) {
            randomizeBatchNorms(m);
            try (Sequential fused = Fusion.fuse(m)) {
                Tensor x = Tensor.randn(gen, 4, 2, 4, 4);
                assertClose(evalForward(m, x), evalForward(fused, x));
                assertInstanceOf(ChannelAffine.class, fused.get(0));
                assertEquals(Epilogue.RELU, ((ChannelAffine) fused.get(0)).epilogue());
                assertEquals(4, fused.size(), "the 32->3->32 bottleneck is kept: " + fused);
            }
        }
    }

    @Test void groupedConvWithoutBiasFoldsBatchNormAndFusesSilu() {
        dev.kiln.ops.Conv2dParams p = new dev.kiln.ops.Conv2dParams(2, 1, 1, 0, 1, 2, 2);
        try (Sequential m = new Sequential(new dev.kiln.nn.Conv2d(4, 6, 3, 2, p, false, gen), BatchNorm.batchNorm2d(6), Activation.silu(),
                Activation.gelu())) {
            randomizeBatchNorms(m);
            try (Sequential fused = Fusion.fuse(m)) {
                Tensor x = Tensor.randn(gen, 2, 4, 9, 7);
                assertClose(evalForward(m, x), evalForward(fused, x));
                assertEquals(2, fused.size(), "conv+BN+SiLU, then the GELU stays a layer: " + fused);
                assertEquals(Epilogue.SILU, ((FusedConv2d) fused.get(0)).epilogue());
            }
        }
    }

    @Test void unknownLayersWithStateAreRejected() {
        try (Sequential m = new Sequential(new Linear(4, 4, true, gen), new LayerNorm(new int[]{4}, 1e-5, true))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Fusion.fuse(m));
            assertTrue(e.getMessage().contains("LayerNorm"), e.getMessage());
        }
    }

    @Test void trainableFusedLayersKeepCorrectGradients() {
        try (Sequential mlp = new Sequential(new Linear(5, 4, true, gen), Activation.relu(), new Linear(4, 2, true, gen));
             Sequential fused = Fusion.fuse(mlp)) {
            for (Tensor p : fused.parameters()) p.requiresGrad(true); // fine-tuning: the epilogue goes out of place
            Tensor x = Tensor.randn(gen, 6, 5);
            fused.forward(x).sum().backward();
            mlp.forward(x).sum().backward();
            Tensor ga = mlp.parameters().getFirst().grad(), gb = fused.parameters().getFirst().grad();
            assertClose(ga, gb);
        }
    }
}
