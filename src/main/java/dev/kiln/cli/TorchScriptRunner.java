package dev.kiln.cli;

import java.io.IOException;
import java.nio.file.Path;

/** TorchScript models for {@code kiln run}/{@code info}: wired once the TorchScript reader lands. */
final class TorchScriptRunner {
    private TorchScriptRunner() {}

    static LoadedModel open(Path file) throws IOException {
        throw new UnsupportedOperationException(file + ": TorchScript models are not supported yet");
    }
}
