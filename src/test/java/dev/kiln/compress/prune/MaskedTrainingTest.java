package dev.kiln.compress.prune;

import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.Adam;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pruned weights stay exactly zero through training (SGD momentum, Adam), and the gradual schedule. */
class MaskedTrainingTest {
    private static Sequential net() {
        Generator g = new Generator(7);
        return new Sequential(new Linear(12, 16, true, g), Activation.relu(), new Linear(16, 3, true, g));
    }

    /** A few steps on random data; first one unmasked step so momentum / Adam state is nonzero everywhere. */
    private static void train(Sequential m, Optimizer opt, int steps) {
        Generator g = new Generator(11);
        for (int s = 0; s < steps; s++) {
            try (Scope sc = Scope.open()) {
                Tensor x = Tensor.randn(g, 8, 12);
                Tensor y = Tensor.fromArray(new long[]{0, 1, 2, 0, 1, 2, 0, 1}, 8);
                Loss.crossEntropy(m.forward(x), y).backward();
                opt.step();
                opt.zeroGrad();
            }
        }
    }

    private static void assertPrunedStayZero(Function<Sequential, Optimizer> make) {
        try (Sequential m = net(); Optimizer inner = make.apply(m)) {
            train(m, inner, 2); // state everywhere
            try (MaskSet masks = Pruner.magnitude(m, 0.6, false)) {
                MaskedOptimizer opt = new MaskedOptimizer(inner, masks);
                opt.enforce();
                Map<String, Tensor> state = inner.stateOf(0);
                assertTrue(!state.isEmpty());
                float[] before = masks.entries().get(0).weight().toFloatArray();
                train(m, opt, 5);
                for (MaskSet.Entry e : masks.entries()) {
                    float[] w = e.weight().toFloatArray();
                    boolean[] keep = e.keep();
                    int changed = 0;
                    for (int i = 0; i < w.length; i++) {
                        if (!keep[i]) assertEquals(0f, w[i], e.name() + "[" + i + "]");
                        else if (e == masks.entries().get(0) && w[i] != before[i]) changed++;
                    }
                    if (e == masks.entries().get(0)) assertTrue(changed > 0, "kept weights still train");
                }
                for (Tensor st : inner.stateOf(0).values()) {
                    float[] v = st.toFloatArray();
                    boolean[] keep = masks.entries().get(0).keep();
                    for (int i = 0; i < v.length; i++) if (!keep[i]) assertEquals(0f, v[i], "state at a pruned weight");
                }
            }
        }
    }

    @Test void sgdMomentumKeepsPrunedWeightsZero() {
        assertPrunedStayZero(m -> new SGD(m.parameters(), 0.1, 0.9, 0, 1e-3, true));
    }

    @Test void adamKeepsPrunedWeightsZero() {
        assertPrunedStayZero(m -> Adam.adam(m.parameters(), 0.01, 0.9, 0.999, 1e-8, 1e-3));
        assertPrunedStayZero(m -> Adam.adamW(m.parameters(), 0.01));
    }

    @Test void cubicScheduleValues() {
        GradualSchedule s = new GradualSchedule(0.0, 0.9, 100, 10, 20); // prune at 100, 120, ..., 300
        assertEquals(0.0, s.sparsityAt(0));
        assertEquals(0.0, s.sparsityAt(100));
        assertEquals(0.9 - 0.9 * Math.pow(0.9, 3), s.sparsityAt(120), 1e-12);
        assertEquals(0.9 - 0.9 * 0.125, s.sparsityAt(200), 1e-12);
        assertEquals(0.9, s.sparsityAt(300), 1e-12);
        assertEquals(0.9, s.sparsityAt(10_000), 1e-12);
        assertTrue(s.isPruningStep(100) && s.isPruningStep(140) && s.isPruningStep(300));
        assertTrue(!s.isPruningStep(99) && !s.isPruningStep(130) && !s.isPruningStep(320));
        GradualSchedule from = new GradualSchedule(0.5, 0.8, 0, 4, 1);
        assertEquals(0.8 - 0.3 * Math.pow(0.75, 3), from.sparsityAt(1), 1e-12);
        GradualSchedule over = GradualSchedule.over(0.9, 1000, 0.5, 10);
        assertEquals(50, over.interval());
        assertEquals(10, over.steps());
        assertEquals(500, over.endStep());
    }

    @Test void gradualPruningRisesToTargetAndNeverRevives() {
        try (Sequential m = net(); Optimizer inner = new SGD(m.parameters(), 0.05, 0.9, 0, 0, false);
             GradualPruner gp = new GradualPruner(m, inner, new GradualSchedule(0, 0.75, 0, 4, 2), false)) {
            assertEquals(0.0, gp.masks().sparsity());
            boolean[] prev = gp.masks().entries().get(0).keep();
            double last = 0;
            for (int step = 0; step < 10; step++) {
                train(m, gp.optimizer(), 1);
                double s = gp.masks().sparsity();
                assertTrue(s >= last, "sparsity rises");
                last = s;
                boolean[] now = gp.masks().entries().get(0).keep();
                for (int i = 0; i < now.length; i++) if (!prev[i]) assertTrue(!now[i], "pruned weight " + i + " revived");
                prev = now;
            }
            assertEquals(4, gp.prunings()); // masks made at step 0, recomputed after steps 2, 4, 6 and 8
            for (MaskSet.Entry e : gp.masks().entries()) assertEquals(Math.round(0.75 * e.size()), e.size() - e.kept());
        }
    }
}
