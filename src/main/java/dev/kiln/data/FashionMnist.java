package dev.kiln.data;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Fashion-MNIST (Zalando, MIT license): 28x28 grey images of 10 clothing classes, 60000 for
 * training and 10000 for testing. {@link #load} reads the IDX files (gzipped or not) of a directory,
 * by default where Debian's {@code dataset-fashion-mnist} installs them; {@link #embedded} reads a
 * subset shipped with Kiln (first 2000 training / 500 test examples) for when they are absent.
 * Images come as F32 [N, 1, 28, 28], by default normalized with the usual mean/std
 * ({@code (x/255 - 0.2860) / 0.3530}), else scaled to [0, 1]; labels as I64 [N] in 0..9.
 */
public final class FashionMnist {
    private FashionMnist() {}

    public static final double MEAN = 0.2860;
    public static final double STD = 0.3530;
    public static final int CLASSES = 10;
    public static final int HEIGHT = 28;
    public static final int WIDTH = 28;
    public static final int TRAIN_SIZE = 60000;
    public static final int TEST_SIZE = 10000;
    public static final int EMBEDDED_TRAIN_SIZE = 2000;
    public static final int EMBEDDED_TEST_SIZE = 500;

    private static final List<String> CLASS_NAMES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    /** Class names, indexed by label. */
    public static List<String> classNames() { return CLASS_NAMES; }

    public static String className(int label) { return CLASS_NAMES.get(label); }

    /** Where Debian's dataset-fashion-mnist package installs the files. */
    public static Path defaultDir() { return Path.of("/usr/share/datasets/fashion-mnist"); }

    /** True when all four files are in {@link #defaultDir()}. */
    public static boolean available() { return available(defaultDir()); }

    /** True when all four files (gzipped or not) are in dir. */
    public static boolean available(Path dir) {
        for (boolean train : new boolean[]{true, false})
            if (find(dir, train, "images", "idx3") == null || find(dir, train, "labels", "idx1") == null) return false;
        return true;
    }

    /** The training or test split from dir, normalized. */
    public static TensorDataset load(Path dir, boolean train) { return load(dir, train, true); }

    /** The training or test split from dir; normalize false gives pixels in [0, 1]. */
    public static TensorDataset load(Path dir, boolean train, boolean normalize) {
        Path images = find(dir, train, "images", "idx3");
        Path labels = find(dir, train, "labels", "idx1");
        if (images == null || labels == null)
            throw new IllegalArgumentException("FashionMnist: " + dir + " lacks the " + split(train)
                    + " files (" + split(train) + "-images-idx3-ubyte[.gz], " + split(train) + "-labels-idx1-ubyte[.gz])");
        double[] affine = affine(normalize);
        Tensor x = Idx.read(images, DType.F32, affine[0], affine[1]);
        Tensor y = null;
        try {
            y = Idx.read(labels, DType.I64);
            return assemble(x, y, images.toString(), labels.toString());
        } catch (RuntimeException e) {
            x.close();
            if (y != null) y.close();
            throw e;
        }
    }

    /** The full split from {@link #defaultDir()} when installed, else the embedded subset. */
    public static TensorDataset loadOrEmbedded(boolean train) {
        return available() ? load(defaultDir(), train) : embedded(train);
    }

    /** The embedded subset (2000 training or 500 test examples), normalized. */
    public static TensorDataset embedded(boolean train) { return embedded(train, true); }

    /** The embedded subset; normalize false gives pixels in [0, 1]. */
    public static TensorDataset embedded(boolean train, boolean normalize) {
        int n = train ? EMBEDDED_TRAIN_SIZE : EMBEDDED_TEST_SIZE;
        String images = "fashion-mnist-" + split(train) + "-" + n + "-images-idx3-ubyte.gz";
        String labels = "fashion-mnist-" + split(train) + "-" + n + "-labels-idx1-ubyte.gz";
        double[] affine = affine(normalize);
        Tensor x = Idx.read(resource(images), "resource " + images, DType.F32, affine[0], affine[1]);
        Tensor y = null;
        try {
            y = Idx.read(resource(labels), "resource " + labels, DType.I64, 1, 0);
            return assemble(x, y, images, labels);
        } catch (RuntimeException e) {
            x.close();
            if (y != null) y.close();
            throw e;
        }
    }

    /** {scale, shift} mapping a byte value to the model input. */
    private static double[] affine(boolean normalize) {
        return normalize ? new double[]{1 / (255.0 * STD), -MEAN / STD} : new double[]{1 / 255.0, 0};
    }

    private static String split(boolean train) { return train ? "train" : "t10k"; }

    private static Path find(Path dir, boolean train, String kind, String idx) {
        String base = split(train) + "-" + kind + "-" + idx + "-ubyte";
        for (String name : new String[]{base + ".gz", base}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) return p;
        }
        return null;
    }

    /** Checks shapes and labels, and reshapes images to [N, 1, 28, 28]. */
    private static TensorDataset assemble(Tensor x, Tensor y, String imagesName, String labelsName) {
        int[] xs = x.shape();
        if (xs.length != 3 || xs[1] != HEIGHT || xs[2] != WIDTH)
            throw new IllegalArgumentException("FashionMnist: " + imagesName + " holds shape " + Arrays.toString(xs)
                    + ", expected [N, 28, 28]");
        if (y.dim() != 1 || y.size(0) != xs[0])
            throw new IllegalArgumentException("FashionMnist: " + labelsName + " holds shape " + Arrays.toString(y.shape())
                    + " for " + xs[0] + " images in " + imagesName);
        checkLabels(y, labelsName);
        Tensor images = x.view(xs[0], 1, HEIGHT, WIDTH);
        x.close();
        return new TensorDataset(images, y);
    }

    private static void checkLabels(Tensor y, String name) {
        long[] v = y.toLongArray();
        for (int i = 0; i < v.length; i++)
            if (v[i] < 0 || v[i] >= CLASSES)
                throw new IllegalArgumentException("FashionMnist: " + name + ": label " + v[i] + " at index " + i + " is not in 0..9");
    }

    private static byte[] resource(String name) {
        try (InputStream in = FashionMnist.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("FashionMnist: embedded resource " + name + " is missing from the build");
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("FashionMnist: cannot read embedded resource " + name, e);
        }
    }
}
