package dev.kiln.train;

import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Activation;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.Adam;
import dev.kiln.optim.LrSchedule;
import dev.kiln.optim.Optimizer;
import dev.kiln.optim.SGD;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

import java.nio.file.Path;

/**
 * The run shared by {@link ResumableRunTest} and its child process {@link ResumableRunChild}: an
 * MLP with Dropout on 40 random examples, batches of 8 (5 per epoch, shuffled per epoch), Adam or
 * SGD with Nesterov momentum, an exponential per-step learning-rate decay. Everything is built from
 * fixed seeds, so two processes build identical runs.
 */
final class ResumeSetup implements AutoCloseable {
    final Generator dropoutRng = new Generator(5);
    final Sequential model;
    final Optimizer opt;
    final TensorDataset data;
    final DataLoader loader;
    final ResumableRun run;

    ResumeSetup(String optimizer, Path checkpoint, int every) {
        Generator g = new Generator(3);
        model = new Sequential(new Linear(16, 32, true, g), Activation.relu(), new Dropout(0.3, dropoutRng), new Linear(32, 4, true, g));
        opt = optimizer.equals("adam") ? Adam.adam(model.parameters(), 0.01) : new SGD(model.parameters(), 0.05, 0.9, 0, 1e-4, true);
        long[] labels = new long[40];
        for (int i = 0; i < labels.length; i++) labels[i] = (i * 7) % 4;
        data = new TensorDataset(Tensor.randn(new Generator(4), 40, 16), Tensor.fromArray(labels, 40));
        loader = DataLoader.builder(data).batchSize(8).shuffle(11).prefetch(false).build();
        run = new ResumableRun(model, opt, loader).stepGenerator(dropoutRng, 99).schedule(LrSchedule.exponential(opt, 0.99));
        if (checkpoint != null) run.checkpointEvery(checkpoint, every);
    }

    @Override
    public void close() {
        loader.close();
        data.close();
        opt.close();
        model.close();
    }
}
