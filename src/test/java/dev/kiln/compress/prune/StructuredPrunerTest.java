package dev.kiln.compress.prune;

import dev.kiln.autograd.GradMode;
import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Models;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Structured pruning builds a smaller Sequential whose remaining units compute exactly what they
 * computed before. Weights and inputs are small dyadic rationals (k/8), so every sum is exact in
 * float whatever the summation order, and the comparisons are bitwise.
 */
class StructuredPrunerTest {
    /** Fills a tensor with k/8, k uniform in [-range, range]. */
    static void dyadic(Tensor t, Generator g, int range) {
        double[] v = new double[(int) t.numel()];
        for (int i = 0; i < v.length; i++) v[i] = (g.nextInt(2 * range + 1) - range) / 8.0;
        LayerSlices.fill(t, v);
    }

    static void dyadicModel(Module m, Generator g) {
        for (Tensor p : m.parameters()) dyadic(p, g, 3);
    }

    /** Makes output unit u of weighted layer `layer` dead: zero row and bias (and BN scale/shift when a BN follows). */
    static void kill(Sequential m, int layer, int u) {
        Module l = m.get(layer);
        Tensor w = l instanceof Linear lin ? lin.weight() : ((Conv2d) l).weight();
        Tensor b = l instanceof Linear lin ? lin.bias() : ((Conv2d) l).bias();
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            w.select(0, u).copyFrom(Tensor.scalar(0));
            b.select(0, u).copyFrom(Tensor.scalar(0));
            if (layer + 1 < m.size() && m.get(layer + 1) instanceof BatchNorm bn) {
                bn.weight().select(0, u).copyFrom(Tensor.scalar(0));
                bn.bias().select(0, u).copyFrom(Tensor.scalar(0));
            }
        }
    }

    static float[] run(Module m, Tensor x) {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            return m.forward(x).toFloatArray();
        }
    }

    static Sequential prefix(Sequential m, int n) {
        return new Sequential(m.layers().subList(0, n).toArray(Module[]::new));
    }

    @Test void mlpKeptNeuronsOfTheFirstPrunedLayerAreIdentical() {
        try (Sequential m = Models.mlp(new Generator(3)); Tensor x = Tensor.randn(new Generator(4), 5, 784)) {
            StructuredPruner.Result r = StructuredPruner.prune(m, 0.5, Criterion.L2);
            try (Sequential p = r.model()) {
                assertEquals(128, ((Linear) p.get(1)).outFeatures);
                assertEquals(64, ((Linear) p.get(3)).outFeatures);
                assertEquals(64, ((Linear) p.get(5)).inFeatures);
                assertEquals(10, ((Linear) p.get(5)).outFeatures);
                float[] before = run(prefix(m, 2), x), after = run(prefix(p, 2), x);
                int[] kept = r.layers().getFirst().kept();
                for (int n = 0; n < 5; n++)
                    for (int j = 0; j < kept.length; j++) assertEquals(before[n * 256 + kept[j]], after[n * 128 + j]);
                assertEquals("1: 256 -> 128, 3: 128 -> 64", StructuredPruner.describe(r.layers()));
            }
        }
    }

    @Test void mlpWithDeadNeuronsGivesIdenticalOutputs() {
        Generator g = new Generator(5);
        try (Sequential m = new Sequential(Activation.flatten(), new Linear(12, 8, true, g), Activation.relu(),
                new Linear(8, 6, true, g), Activation.relu(), new Linear(6, 4, true, g));
             Tensor x = Tensor.randn(g, 7, 3, 4)) {
            dyadicModel(m, g);
            dyadic(x, g, 8);
            int[] dead1 = {0, 3, 4, 7}, dead2 = {1, 2, 5};
            for (int u : dead1) kill(m, 1, u);
            for (int u : dead2) kill(m, 3, u);
            StructuredPruner.Result r = StructuredPruner.prune(m, 0.5, Criterion.L1);
            try (Sequential p = r.model()) {
                assertArrayEquals(new int[]{1, 2, 5, 6}, r.layers().get(0).kept());
                assertArrayEquals(new int[]{0, 3, 4}, r.layers().get(1).kept());
                assertEquals(4 * 12 + 4 + 3 * 4 + 3 + 4 * 3 + 4, p.parameterCount());
                assertArrayEquals(run(m, x), run(p, x));
            }
        }
    }

    /** Conv-BN-ReLU-Pool-Conv-BN-ReLU-Flatten-Linear-ReLU-Linear on [N, 2, 4, 4]. */
    static Sequential cnn(Generator g) {
        Conv2dParams p1 = Conv2dParams.of(1, 1);
        Sequential m = new Sequential(new Conv2d(2, 6, 3, 3, p1, true, g), BatchNorm.of(6, 2, 0, 0.1), Activation.relu(), Pool2d.max(2),
                new Conv2d(6, 8, 3, 3, p1, true, g), BatchNorm.of(8, 2, 0, 0.1), Activation.relu(), Activation.flatten(),
                new Linear(32, 5, true, g), Activation.relu(), new Linear(5, 3, true, g));
        dyadicModel(m, g);
        for (int i : new int[]{1, 5}) {
            BatchNorm bn = (BatchNorm) m.get(i);
            dyadic(bn.runningMean(), g, 4);
            double[] gamma = new double[(int) bn.weight().numel()];
            for (int k = 0; k < gamma.length; k++) gamma[k] = (1 + g.nextInt(3)) / (g.nextInt(2) == 0 ? 8.0 : -8.0); // nonzero
            LayerSlices.fill(bn.weight(), gamma);
            LayerSlices.fill(bn.runningVar(), filled(bn.runningVar().numel(), 4.0)); // rsqrt(4) = 0.5 exactly (eps 0)
        }
        m.eval();
        return m;
    }

    static double[] filled(long n, double v) {
        double[] a = new double[(int) n];
        Arrays.fill(a, v);
        return a;
    }

    @Test void cnnWithBatchNormAndFlattenGivesIdenticalOutputs() {
        for (Criterion c : List.of(Criterion.L1, Criterion.BN_GAMMA)) {
            Generator g = new Generator(8);
            try (Sequential m = cnn(g); Tensor x = Tensor.randn(g, 3, 2, 4, 4)) {
                dyadic(x, g, 8);
                for (int u : new int[]{1, 2, 4}) kill(m, 0, u);
                for (int u : new int[]{0, 3, 5, 6}) kill(m, 4, u);
                for (int u : new int[]{2, 3}) kill(m, 8, u); // round(0.5 * 5) = 3 pruned under L1: dead 2, 3 + lowest live one
                if (c == Criterion.L1) {
                    // make unit 4 of layer 8 the least important live one, and inactive (negative bias, zero weights)
                    try (Scope s = Scope.open(); GradMode.Guard gm = GradMode.noGrad()) {
                        ((Linear) m.get(8)).weight().select(0, 4).copyFrom(Tensor.scalar(0));
                        ((Linear) m.get(8)).bias().select(0, 4).copyFrom(Tensor.scalar(-1));
                    }
                }
                StructuredPruner.Result r = StructuredPruner.prune(m, 0.5, c);
                try (Sequential p = r.model()) {
                    assertArrayEquals(new int[]{0, 3, 5}, r.layers().get(0).kept(), c.toString());
                    assertArrayEquals(new int[]{1, 2, 4, 7}, r.layers().get(1).kept(), c.toString());
                    Conv2d c1 = (Conv2d) p.get(0), c2 = (Conv2d) p.get(4);
                    assertEquals(3, c1.outChannels);
                    assertEquals(3, c2.inChannels);
                    assertEquals(4, c2.outChannels);
                    assertArrayEquals(new int[]{3}, ((BatchNorm) p.get(1)).weight().shape());
                    assertArrayEquals(new int[]{4}, ((BatchNorm) p.get(5)).runningVar().shape());
                    Linear fc = (Linear) p.get(8);
                    assertEquals(16, fc.inFeatures); // 4 channels x 2 x 2 through the Flatten
                    assertEquals(c == Criterion.L1 ? 2 : 5, fc.outFeatures); // no BN after it: bn criterion keeps it
                    assertEquals(c == Criterion.L1 ? 3 : 2, r.layers().size());
                    assertArrayEquals(run(m, x), run(p, x), c.toString());
                }
            }
        }
    }

    @Test void unsupportedWiringIsAnError() {
        Generator g = new Generator(1);
        try (Sequential noFlatten = new Sequential(new Conv2d(1, 4, 3, 3, Conv2dParams.of(1, 1), true, g), new Linear(4, 2, true, g));
             Sequential attention = new Sequential(new Linear(4, 4, true, g), new dev.kiln.nn.LayerNorm(4), new Linear(4, 2, true, g))) {
            assertThrows(IllegalArgumentException.class, () -> StructuredPruner.prune(noFlatten, 0.5, Criterion.L1));
            assertThrows(IllegalArgumentException.class, () -> StructuredPruner.prune(attention, 0.5, Criterion.L1));
        }
    }
}
