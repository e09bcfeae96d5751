package dev.kiln.train;

import dev.kiln.nn.Activation;
import dev.kiln.nn.Conv2d;
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

    public static Sequential byName(String name, Generator g) {
        return switch (name) {
            case "mlp" -> mlp(g);
            case "cnn" -> cnn(g);
            default -> throw new IllegalArgumentException("unknown model '" + name + "' (expected mlp or cnn)");
        };
    }
}
