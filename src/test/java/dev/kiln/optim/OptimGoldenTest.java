package dev.kiln.optim;

import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

import static dev.kiln.nn.TorchGoldenTest.assertClose;
import static dev.kiln.nn.TorchGoldenTest.golden;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** 10 optimizer steps on a small MLP match PyTorch's losses and final parameters (1e-5 relative). */
class OptimGoldenTest {
    @ParameterizedTest
    @ValueSource(strings = {"sgd_momentum", "sgd_nesterov", "adam", "adamw"})
    void tenStepsMatchPyTorch(String name) {
        Map<String, Function<java.util.List<Tensor>, Optimizer>> makers = Map.of(
                "sgd_momentum", ps -> new SGD(ps, 0.1, 0.9, 0, 1e-3, false),
                "sgd_nesterov", ps -> new SGD(ps, 0.05, 0.9, 0, 0, true),
                "adam", ps -> Adam.adam(ps, 0.01, 0.9, 0.999, 1e-8, 1e-3),
                "adamw", ps -> Adam.adamW(ps, 0.01, 0.9, 0.999, 1e-8, 0.01));
        try (Scope s = Scope.open()) {
            Map<String, Tensor> f = golden("optim_" + name);
            Generator g = new Generator(3);
            Sequential m = new Sequential(new Linear(6, 5, true, g), Activation.relu(), new Linear(5, 3, true, g));
            LinkedHashMap<String, Tensor> init = new LinkedHashMap<>();
            for (var e : f.entrySet()) if (e.getKey().startsWith("init.")) init.put(e.getKey().substring(5), e.getValue());
            m.loadStateDict(init, true);
            Optimizer opt = makers.get(name).apply(m.parameters());
            double[] losses = f.get("losses").toDoubleArray();
            for (int step = 0; step < 10; step++) {
                try (Scope st = Scope.open()) {
                    opt.zeroGrad();
                    Tensor loss = Loss.crossEntropy(m.forward(f.get("x")), f.get("target"));
                    assertEquals(losses[step], loss.item(), 1e-5 * Math.abs(losses[step]) + 1e-6, name + " loss at step " + step);
                    loss.backward();
                    opt.step();
                }
            }
            for (var e : m.stateDict().entrySet())
                assertClose(name + " final " + e.getKey(), f.get("final." + e.getKey()), e.getValue(), 1e-5, 1e-6);
            opt.close();
            m.close();
        }
    }
}
