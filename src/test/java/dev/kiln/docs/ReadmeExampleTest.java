package dev.kiln.docs;

import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's Java example, kept compiling and working (it must drive the loss down). */
class ReadmeExampleTest {
    @Test void readmeExampleRuns() {
        Generator g = new Generator(0);
        Tensor x = Tensor.randn(g, 64, 784), y = Tensor.fromArray(new long[64], 64);
        Sequential model = new Sequential(new Linear(784, 256, true, g), Activation.relu(),
                new Linear(256, 10, true, g));
        Optimizer opt = new SGD(model.parameters(), 0.05, 0.9, 0, 0, false);
        double first = 0, last = 0;
        for (int step = 0; step < 20; step++) {
            try (Scope s = Scope.open()) {
                opt.zeroGrad();
                Tensor loss = Loss.crossEntropy(model.forward(x), y);
                loss.backward();
                opt.step();
                if (step == 0) first = loss.item();
                last = loss.item();
            }
        }
        Tensor c = Tensor.rand(g, 512, 512).matmul(Tensor.rand(g, 512, 512));
        assertArrayEquals(new int[]{512, 512}, c.shape());
        assertTrue(last < first * 0.1, "loss " + first + " -> " + last);
    }
}
