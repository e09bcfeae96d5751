package dev.kiln.train;

import dev.kiln.nn.Activation;
import dev.kiln.nn.BatchNorm;
import dev.kiln.nn.Conv2d;
import dev.kiln.nn.Dropout;
import dev.kiln.nn.Linear;
import dev.kiln.nn.Pool2d;
import dev.kiln.nn.Sequential;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Generator;

/** The standard Fashion-MNIST models (same layers and names as the PyTorch peer script). */
public final class Models {
    private Models() {}

    /** Flatten, Linear(784,256), ReLU, Linear(256,128), ReLU, Linear(128,10). */
    public static Sequential mlp(Generator g) {
        return new Sequential(Activation.flatten(), new Linear(784, 256, true, g), Activation.relu(),
                new Linear(256, 128, true, g), Activation.relu(), new Linear(128, 10, true, g));
    }

    /** Conv(1,16,3,p1), ReLU, MaxPool2, Conv(16,32,3,p1), ReLU, MaxPool2, Flatten, Linear(1568,128), ReLU, Linear(128,10). */
    public static Sequential cnn(Generator g) {
        Conv2dParams p = Conv2dParams.of(1, 1);
        return new Sequential(new Conv2d(1, 16, 3, 3, p, true, g), Activation.relu(), Pool2d.max(2),
                new Conv2d(16, 32, 3, 3, p, true, g), Activation.relu(), Pool2d.max(2), Activation.flatten(),
                new Linear(1568, 128, true, g), Activation.relu(), new Linear(128, 10, true, g));
    }

    /** A small student for distillation: Flatten, Linear(784,32), ReLU, Linear(32,10) (25,450 parameters). */
    public static Sequential mlpSmall(Generator g) {
        return new Sequential(Activation.flatten(), new Linear(784, 32, true, g), Activation.relu(), new Linear(32, 10, true, g));
    }

    /**
     * The CNN with BatchNorm after each conv and the hidden Linear, and Dropout(0.2) before the
     * classifier: Conv, BN, ReLU, MaxPool2, Conv, BN, ReLU, MaxPool2, Flatten, Linear, BN1d, ReLU,
     * Dropout, Linear (a model for layer fusion: BatchNorm folding and Dropout removal).
     */
    public static Sequential cnnBn(Generator g) {
        Conv2dParams p = Conv2dParams.of(1, 1);
        return new Sequential(new Conv2d(1, 16, 3, 3, p, true, g), BatchNorm.batchNorm2d(16), Activation.relu(), Pool2d.max(2),
                new Conv2d(16, 32, 3, 3, p, true, g), BatchNorm.batchNorm2d(32), Activation.relu(), Pool2d.max(2), Activation.flatten(),
                new Linear(1568, 128, true, g), BatchNorm.batchNorm1d(128), Activation.relu(), new Dropout(0.2, g), new Linear(128, 10, true, g));
    }

    /** The model names {@link #byName} knows. */
    public static final java.util.List<String> NAMES = java.util.List.of("mlp", "cnn", "mlp-small", "cnn-bn");

    public static Sequential byName(String name, Generator g) {
        return switch (name) {
            case "mlp" -> mlp(g);
            case "cnn" -> cnn(g);
            case "mlp-small" -> mlpSmall(g);
            case "cnn-bn" -> cnnBn(g);
            default -> throw new IllegalArgumentException("unknown model '" + name + "' (expected one of " + NAMES + ")");
        };
    }
}
