package dev.kiln.cli;

import dev.kiln.data.FashionMnist;
import dev.kiln.data.TensorDataset;

import java.nio.file.Path;

/**
 * Fashion-MNIST for the training commands (train, prune, distill, fuse): the Debian package's IDX files, a
 * directory given with --data, or the embedded subset when the package is absent.
 */
final class FashionData {
    private FashionData() {}

    /** Train and test sets plus a one-line note saying where they came from. */
    record Sets(TensorDataset train, TensorDataset test, String note) implements AutoCloseable {
        @Override public void close() {
            train.close();
            test.close();
        }
    }

    /**
     * @param data    "fashion-mnist" (the default location, falling back to the embedded subset) or a directory
     * @param limit   keep only the first N training examples (null: all)
     * @param command the command name for error messages
     */
    static Sets load(String data, Integer limit, String command) {
        Path dir = data.equals("fashion-mnist") ? FashionMnist.defaultDir() : Path.of(data);
        TensorDataset tr, te;
        String note;
        if (FashionMnist.available(dir)) {
            tr = FashionMnist.load(dir, true);
            te = FashionMnist.load(dir, false);
            note = "data: Fashion-MNIST from " + dir;
        } else if (data.equals("fashion-mnist")) {
            tr = FashionMnist.embedded(true);
            te = FashionMnist.embedded(false);
            note = "data: " + dir + " not found (apt-get install dataset-fashion-mnist); using the embedded subset ("
                    + tr.size() + " train / " + te.size() + " test images)";
        } else {
            throw new IllegalArgumentException(command + ": no Fashion-MNIST IDX files in " + dir);
        }
        if (limit != null && limit < tr.size()) {
            TensorDataset small = new TensorDataset(tr.features().narrow(0, 0, limit), tr.labels().narrow(0, 0, limit));
            tr.close();
            tr = small;
        }
        return new Sets(tr, te, note);
    }
}
