package dev.kiln.optim;

import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ScheduleAndAccumulationTest {
    private static SGD sgd(double lr) { return new SGD(List.of(Tensor.zeros(1).requiresGrad(true)), lr); }

    @Test void stepDecay() {
        SGD o = sgd(1.0);
        LrSchedule s = LrSchedule.step(o, 2, 0.5);
        double[] want = {1.0, 0.5, 0.5, 0.25, 0.25};
        for (double w : want) { s.step(); assertEquals(w, o.lr(), 1e-12); }
    }

    @Test void exponentialDecay() {
        SGD o = sgd(2.0);
        LrSchedule s = LrSchedule.exponential(o, 0.9);
        s.step(); s.step();
        assertEquals(2.0 * 0.81, o.lr(), 1e-12);
    }

    @Test void cosineAnnealing() {
        SGD o = sgd(1.0);
        LrSchedule s = LrSchedule.cosine(o, 4, 0.1);
        s.step();
        assertEquals(0.1 + 0.9 * (1 + Math.cos(Math.PI / 4)) / 2, o.lr(), 1e-12);
        s.step(); s.step(); s.step();
        assertEquals(0.1, o.lr(), 1e-12);
        s.step();
        assertEquals(0.1, o.lr(), 1e-12, "stays at eta_min after t_max");
    }

    @Test void linearWarmup() {
        SGD o = sgd(1.0);
        LrSchedule s = LrSchedule.linearWarmup(o, 4, 0.25);
        assertEquals(0.25, o.lr(), 1e-12);
        s.step();
        assertEquals(0.4375, o.lr(), 1e-12);
        s.step(); s.step(); s.step(); s.step();
        assertEquals(1.0, o.lr(), 1e-12);
    }

    /** k micro-batches with accumulation give the same parameters as one batch k times larger. */
    @Test void accumulationEqualsOneBigBatch() {
        Generator g = new Generator(5);
        try (Scope scope = Scope.open()) {
            Tensor x = Tensor.uniform(g, -2, 2, DType.F32, 8, 6);
            Tensor y = Tensor.fromArray(new long[]{0, 1, 2, 1, 0, 2, 2, 1}, 8);
            Sequential big = new Sequential(new Linear(6, 5, true, new Generator(1)), Activation.relu(), new Linear(5, 3, true, new Generator(2)));
            Sequential acc = new Sequential(new Linear(6, 5, true, new Generator(1)), Activation.relu(), new Linear(5, 3, true, new Generator(2)));
            SGD o1 = new SGD(big.parameters(), 0.1, 0.9, 0, 0, false);
            SGD o2 = new SGD(acc.parameters(), 0.1, 0.9, 0, 0, false);
            GradientAccumulator ga = new GradientAccumulator(o2, 4);
            for (int step = 0; step < 3; step++) {
                try (Scope s = Scope.open()) {
                    o1.zeroGrad();
                    Loss.crossEntropy(big.forward(x), y).backward();
                    o1.step();
                    for (int k = 0; k < 4; k++) {
                        boolean stepped = ga.backward(Loss.crossEntropy(acc.forward(x.narrow(0, 2 * k, 2)), y.narrow(0, 2 * k, 2)));
                        assertEquals(k == 3, stepped);
                    }
                }
            }
            var pb = big.stateDict();
            var pa = acc.stateDict();
            for (String k : pb.keySet()) {
                float[] a = pb.get(k).toFloatArray(), b = pa.get(k).toFloatArray();
                for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-5 + 1e-5 * Math.abs(a[i]), k + "[" + i + "]");
            }
            assertNotEquals(0.0, pb.get("0.weight").sub(acc.stateDict().get("0.weight")).abs().sum().item() + 1, "sanity");
        }
    }

    /** flush() steps on a partial window as is (each micro-batch still scaled by 1/k) and only then. */
    @Test void flushStepsOnAPartialWindow() {
        Generator g = new Generator(6);
        try (Scope scope = Scope.open()) {
            Tensor x = Tensor.uniform(g, -2, 2, DType.F32, 4, 6);
            Tensor y = Tensor.fromArray(new long[]{0, 1, 2, 1}, 4);
            Sequential a = new Sequential(new Linear(6, 3, true, new Generator(1)));
            Sequential b = new Sequential(new Linear(6, 3, true, new Generator(1)));
            SGD oa = new SGD(a.parameters(), 0.1, 0, 0, 0, false), ob = new SGD(b.parameters(), 0.1, 0, 0, 0, false);
            GradientAccumulator ga = new GradientAccumulator(oa, 4);
            assertEquals(false, ga.flush());
            assertEquals(false, ga.backward(Loss.crossEntropy(a.forward(x), y)));
            assertEquals(true, ga.flush());
            assertEquals(0, ga.pending());
            ob.zeroGrad();
            Loss.crossEntropy(b.forward(x), y).div(4.0).backward();
            ob.step();
            assertArrayEquals(b.stateDict().get("0.weight").toFloatArray(), a.stateDict().get("0.weight").toFloatArray());
            assertEquals(null, a.parameters().get(0).grad() == null ? null : (a.parameters().get(0).grad().abs().sum().item() == 0 ? null : "grad left"));
        }
    }

    @Test void clipGradNormScalesToMaxNorm() {
        Tensor p = Tensor.zeros(3).requiresGrad(true);
        p.setGrad(Tensor.fromArray(new float[]{3, 4, 0}, 3));
        double n = Optimizer.clipGradNorm(List.of(p), 1.0);
        assertEquals(5.0, n, 1e-6);
        float[] gr = p.grad().toFloatArray();
        assertEquals(0.6, gr[0], 1e-5);
        assertEquals(0.8, gr[1], 1e-5);
    }

    @Test void badHyperparametersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> sgd(-1));
        assertThrows(IllegalArgumentException.class, () -> new SGD(List.of(), 0.1, 0, 0, 0, true));
        assertThrows(IllegalArgumentException.class, () -> Adam.adam(List.of(), 0.1, 1.0, 0.9, 1e-8, 0));
    }
}
