package dev.kiln.examples;

import dev.kiln.data.DataLoader;
import dev.kiln.data.TensorDataset;
import dev.kiln.nn.Activation;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Sequential;
import dev.kiln.optim.Adam;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;
import dev.kiln.train.Trainer;

/**
 * Trains a small MLP to tell apart two interleaved spirals: a seeded synthetic dataset in a
 * {@link TensorDataset}, a shuffling {@link DataLoader}, {@link Linear} layers with ReLU, Adam, and
 * {@link Trainer} (cross-entropy, one optimizer step per batch, every step's tensors freed by its
 * own scope). Prints the loss every few epochs and the final accuracy; exits 1 if the loss did
 * not fall to under half its first value or the accuracy stayed under 90%.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp ... dev.kiln.examples.TrainMlp}
 */
public final class TrainMlp {
    private static final int POINTS_PER_CLASS = 256, EPOCHS = 40, BATCH = 64; // 40 x 8 = 320 steps

    public static void main(String[] args) {
        Generator g = new Generator(42);
        TensorDataset data = spirals(g);
        DataLoader train = DataLoader.builder(data).batchSize(BATCH).shuffle(7).build();
        DataLoader all = DataLoader.builder(data).batchSize(data.size()).build();

        // 2 -> 64 -> 64 -> 2 logits
        Sequential model = new Sequential(
                new Linear(2, 64, true, g), Activation.relu(),
                new Linear(64, 64, true, g), Activation.relu(),
                new Linear(64, 2, true, g));
        Adam opt = Adam.adam(model.parameters(), 0.01);
        Trainer trainer = new Trainer(model, opt, 1);

        double first = Double.NaN, last = Double.NaN;
        for (int epoch = 1; epoch <= EPOCHS; epoch++) {
            last = trainer.trainEpoch(train, null).meanLoss();
            if (epoch == 1) first = last;
            if (epoch == 1 || epoch % 5 == 0) System.out.printf("epoch %2d  loss %.4f%n", epoch, last);
        }
        double accuracy = Trainer.accuracy(model, all);
        System.out.printf("%d parameters, %d steps: loss %.4f -> %.4f, accuracy %.1f%%%n",
                model.parameterCount(), opt.steps(), first, last, 100 * accuracy);

        train.close();
        all.close();
        opt.close();
        model.close();
        data.close();
        if (!(last < first / 2) || accuracy < 0.9) {
            System.err.println("TrainMlp: training did not converge");
            System.exit(1);
        }
    }

    /** Two spirals of POINTS_PER_CLASS points each, radius 0.1..1 over 1.75 turns, noise 0.02; labels 0 and 1. */
    static TensorDataset spirals(Generator g) {
        int n = 2 * POINTS_PER_CLASS;
        float[] xy = new float[2 * n];
        long[] label = new long[n];
        for (int i = 0; i < n; i++) {
            int cls = i % 2;
            double t = (i / 2) / (double) POINTS_PER_CLASS;
            double r = 0.1 + 0.9 * t, angle = 3.5 * Math.PI * t + Math.PI * cls;
            xy[2 * i] = (float) (r * Math.cos(angle) + 0.02 * g.nextNormal());
            xy[2 * i + 1] = (float) (r * Math.sin(angle) + 0.02 * g.nextNormal());
            label[i] = cls;
        }
        return new TensorDataset(Tensor.fromArray(xy, n, 2), Tensor.fromArray(label, n));
    }
}
