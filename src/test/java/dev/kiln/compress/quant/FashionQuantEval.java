package dev.kiln.compress.quant;

import dev.kiln.autograd.GradMode;
import dev.kiln.compress.ModelCheckpoint;
import dev.kiln.data.FashionMnist;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Module;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Measurement, not a unit test (runs only with -Dkiln.quant.ckpt=PATH): test accuracy of a trained
 * Fashion-MNIST checkpoint in fp32, static int8 (each observer, 8 calibration batches of 128 training
 * images) and dynamic int8.
 */
@EnabledIfSystemProperty(named = "kiln.quant.ckpt", matches = ".+")
class FashionQuantEval {

    @Test
    void accuracy() {
        Path dir = FashionMnist.defaultDir();
        try (ModelCheckpoint.Loaded l = ModelCheckpoint.load(Path.of(System.getProperty("kiln.quant.ckpt")));
             TensorDataset train = FashionMnist.available(dir) ? FashionMnist.load(dir, true) : FashionMnist.embedded(true);
             TensorDataset test = FashionMnist.available(dir) ? FashionMnist.load(dir, false) : FashionMnist.embedded(false)) {
            Sequential model = l.model();
            model.eval();
            List<Tensor> calib = new ArrayList<>();
            for (int i = 0; i < 8; i++) calib.add(train.features().narrow(0, i * 128, 128).contiguous());
            report("fp32", model, test);
            for (Observer.Kind k : Observer.Kind.values()) report("static int8 " + k, Quantize.staticPtq(model, calib, k), test);
            report("dynamic int8", Quantize.dynamic(model), test);
        }
    }

    private static void report(String name, Module m, TensorDataset test) {
        long t0 = System.nanoTime();
        int n = (int) test.features().size(0), correct = 0;
        try (GradMode.Guard g = GradMode.noGrad()) {
            for (int s = 0; s < n; s += 500) {
                try (Scope sc = Scope.open()) {
                    int len = Math.min(500, n - s);
                    long[] pred = m.forward(test.features().narrow(0, s, len)).argmax(1, false).toLongArray();
                    long[] lab = test.labels().narrow(0, s, len).toLongArray();
                    for (int i = 0; i < len; i++) if (pred[i] == lab[i]) correct++;
                }
            }
        }
        System.out.printf("%-28s test accuracy %.2f%% (%d images, %.1f s)%n", name, 100.0 * correct / n, n, (System.nanoTime() - t0) / 1e9);
    }
}
