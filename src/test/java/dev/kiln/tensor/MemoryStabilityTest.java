package dev.kiln.tensor;

import dev.kiln.autograd.GradMode;
import dev.kiln.compress.quant.Quantize;
import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.io.Npy;
import dev.kiln.nn.Activation;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Loss;
import dev.kiln.nn.Module;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.optim.Adam;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.train.Trainer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Leak tests over long runs: 10,000 training steps (an MLP with SGD + momentum and with AdamW, a
 * small CNN with Nesterov SGD, each with a Scope per step as the README shows, then the Trainer +
 * prefetching DataLoader path) and 10,000 inference
 * calls (Sequential MLP and CNN, an ONNX model run by OnnxExecutor, a dynamically quantized MLP).
 * <p>
 * Each phase warms up first (optimizer state, per-thread kernel scratch), lets the GC and Cleaner
 * settle, then records host bytes in use; every 1000 steps the bytes in use must equal that baseline
 * exactly, and no storage may have been freed by the Cleaner (a tensor dropped without close would
 * show up there even when a GC hides it from the byte count). After the models, optimizers and
 * loaders are closed, bytes in use return exactly to the value before the test built anything (per-
 * thread kernel scratch, a cache by design, is warmed before that value is taken).
 * Counters are process-wide; tests run one at a time in the surefire JVM.
 */
class MemoryStabilityTest {
    private static final int SAMPLE = 1000;

    /** One sample per 1000 steps of a phase. */
    private record Run(String phase, long baseline, List<Long> samples, long cleanerFrees) {
        void check() {
            for (int i = 0; i < samples.size(); i++)
                assertEquals(baseline, samples.get(i), phase + ": host bytes in use after " + (i + 1) * SAMPLE
                        + " steps differ from the baseline " + baseline + " (samples " + samples + ")");
            assertEquals(0, cleanerFrees, phase + ": " + cleanerFrees + " storages were dropped without close (freed by the Cleaner)");
        }
    }

    /** Runs warmup steps, settles, then steps in blocks of SAMPLE, recording bytes in use after each block. */
    private static Run measure(String phase, int warmup, int steps, IntConsumer step) {
        return measure(phase, warmup, steps, 1, step);
    }

    /** As above where one call of step runs stepsPerCall training steps (e.g. one epoch). */
    private static Run measure(String phase, int warmup, int steps, int stepsPerCall, IntConsumer step) {
        for (int i = 0; i < warmup; i++) step.accept(i);
        settle();
        long base = MemoryStats.host().bytesInUse();
        long cleanerBefore = MemoryStats.freedByCleaner();
        List<Long> samples = new ArrayList<>();
        int calls = steps / stepsPerCall, perSample = SAMPLE / stepsPerCall;
        for (int done = 0; done < calls; ) {
            int n = Math.min(perSample, calls - done);
            for (int i = 0; i < n; i++) step.accept(warmup + done + i);
            done += n;
            samples.add(MemoryStats.host().bytesInUse());
        }
        Run r = new Run(phase, base, samples, MemoryStats.freedByCleaner() - cleanerBefore);
        System.out.printf("MemoryStabilityTest %-22s baseline %,d B, samples %s, cleaner frees %d%n", phase, base, samples, r.cleanerFrees);
        return r;
    }

    /** Runs the GC until the Cleaner has nothing left to free (freed count stable for 3 rounds). */
    static void settle() {
        long last = -1;
        for (int stable = 0, round = 0; stable < 3 && round < 50; round++) {
            System.gc();
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            long now = Storage.freedCount();
            stable = now == last ? stable + 1 : 0;
            last = now;
        }
    }

    private static Sequential mlp(Generator g) {
        return new Sequential(new Linear(16, 32, true, g), Activation.relu(), new Linear(32, 4, true, g));
    }

    @Test
    void tenThousandTrainingStepsReturnToTheBaseline() {
        warmConvScratch();
        settle();
        long start = MemoryStats.host().bytesInUse();
        List<Run> runs = new ArrayList<>();
        Generator g = new Generator(7);
        try (Tensor x = Tensor.randn(g, 8, 16); Tensor y = Tensor.fromArray(new long[]{0, 1, 2, 3, 0, 1, 2, 3}, 8)) {
            try (Sequential m = mlp(g); Optimizer opt = new SGD(m.parameters(), 0.01, 0.9, 0, 1e-4, false)) {
                runs.add(measure("SGD momentum + Scope", 5, 3000, i -> readmeStep(m, opt, x, y)));
            }
            try (Sequential m = mlp(g); Optimizer opt = Adam.adamW(m.parameters(), 1e-3)) {
                runs.add(measure("AdamW + Scope", 5, 3000, i -> readmeStep(m, opt, x, y)));
            }
            try (Sequential cnn = cnn(g); Optimizer opt = new SGD(cnn.parameters(), 0.01, 0.9, 0, 0, true);
                 Tensor img = Tensor.randn(g, 8, 1, 8, 8)) {
                runs.add(measure("CNN SGD nesterov", 5, 2000, i -> readmeStep(cnn, opt, img, y)));
            }
        }
        try (TensorDataset data = new TensorDataset(Tensor.randn(g, 64, 16), Tensor.fromArray(labels(64), 64));
             Sequential m = mlp(g); Optimizer opt = Adam.adam(m.parameters(), 1e-3);
             DataLoader loader = DataLoader.builder(data).batchSize(8).shuffle(3).prefetch(true).build()) {
            Trainer trainer = new Trainer(m, opt, 1);
            // one call = one epoch of 8 steps
            runs.add(measure("Trainer + DataLoader", 1, 2000, 8, i -> trainer.trainEpoch(loader, null)));
        }
        settle();
        runs.forEach(Run::check);
        assertEquals(start, MemoryStats.host().bytesInUse(), "host bytes in use after closing every model, optimizer and loader");
    }

    /** Conv(1,4,3,p1), ReLU, MaxPool2, Flatten, Linear(64,4): conv forward and both conv backward kernels. */
    private static Sequential cnn(Generator g) {
        return new Sequential(new Conv2d(1, 4, 3, 3, Conv2dParams.of(1, 1), true, g), Activation.relu(),
                Pool2d.max(2), Activation.flatten(), new Linear(64, 4, true, g));
    }

    /**
     * The conv kernels keep one column buffer per thread for reuse (a cache living as long as its
     * thread, see ConvScratch); one CNN step before the start value makes it part of the baseline.
     */
    private static void warmConvScratch() {
        Generator g = new Generator(1);
        try (Sequential cnn = cnn(g); Optimizer opt = new SGD(cnn.parameters(), 0.01);
             Tensor img = Tensor.randn(g, 8, 1, 8, 8); Tensor y = Tensor.fromArray(labels(8), 8)) {
            readmeStep(cnn, opt, img, y);
        }
    }

    private static void readmeStep(Module m, Optimizer opt, Tensor x, Tensor y) {
        try (Scope s = Scope.open()) {
            opt.zeroGrad();
            Tensor loss = Loss.crossEntropy(m.forward(x), y);
            loss.backward();
            opt.step();
        }
    }

    private static long[] labels(int n) {
        long[] l = new long[n];
        for (int i = 0; i < n; i++) l[i] = i % 4;
        return l;
    }

    @Test
    void tenThousandInferenceCallsReturnToTheBaseline() throws Exception {
        settle();
        long start = MemoryStats.host().bytesInUse();
        List<Run> runs = new ArrayList<>();
        Generator g = new Generator(11);
        try (GradMode.Guard ng = GradMode.noGrad()) {
            try (Sequential m = mlp(g); Tensor x = Tensor.randn(g, 4, 16)) {
                m.eval();
                runs.add(measure("Sequential MLP", 5, 4000, i -> forward(m, x)));
                try (Sequential q = Quantize.dynamic(m)) {
                    runs.add(measure("int8 dynamic MLP", 5, 2000, i -> forward(q, x)));
                }
            }
            try (Sequential cnn = cnn(g); Tensor x = Tensor.randn(g, 2, 1, 8, 8)) {
                cnn.eval();
                runs.add(measure("Sequential CNN", 5, 2000, i -> forward(cnn, x)));
            }
            Path dir = Path.of("src/test/resources/models");
            try (OnnxExecutor ex = new OnnxExecutor(OnnxReader.read(dir.resolve("mlp_op17.onnx")));
                 Tensor all = Npy.read(dir.resolve("mlp_input.npy")); Tensor x = all.narrow(0, 0, 1)) {
                runs.add(measure("OnnxExecutor mlp", 5, 2000, i -> {
                    for (Value v : ex.run(Map.of("input", Value.of(x))).values()) ((Value.TensorValue) v).tensor().close();
                }));
            }
        }
        settle();
        runs.forEach(Run::check);
        assertEquals(start, MemoryStats.host().bytesInUse(), "host bytes in use after closing every model and executor");
    }

    private static void forward(Module m, Tensor x) {
        try (Scope s = Scope.open()) {
            Tensor y = m.forward(x);
            assertEquals(x.size(0), y.size(0), "one output row per input row");
            for (float v : y.toFloatArray()) assertTrue(Float.isFinite(v), "forward gave a non-finite value");
        }
    }
}
