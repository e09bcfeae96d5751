package dev.kiln.cli;

import dev.kiln.tensor.Tensor;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** The model-input options of the commands that run a model file ({@code kiln bench MODEL}, {@code kiln quantize MODEL.onnx}). */
final class ModelInputOptions {
    @Option(names = "--input", paramLabel = "[NAME=]FILE.npy", description = "An input from a .npy file (by name, or the next input). Repeatable.")
    List<String> inputs = new ArrayList<>();

    @Option(names = "--shape", paramLabel = "[NAME=]DIMS[:TYPE]",
            description = "A generated input, e.g. input_ids=1x128 (ints get token ids below the embedding's rows), past=12x2x1x12x63x64; TYPE f32|i64|i32|bool. Repeatable.")
    List<String> shapes = new ArrayList<>();

    /** Whether any input was given. */
    boolean given() { return !inputs.isEmpty() || !shapes.isEmpty(); }

    /** The inputs of target, in its order (see {@link BenchInputs#build}); the caller closes them. */
    List<Tensor> build(BenchTarget target, Long maxId, long seed) throws IOException {
        return BenchInputs.build(target, inputs, shapes, maxId, seed);
    }
}
