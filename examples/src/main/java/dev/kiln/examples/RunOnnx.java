package dev.kiln.examples;

import dev.kiln.io.Npy;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.Value;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs an ONNX model on Kiln's {@link OnnxExecutor}: reads the file, feeds its inputs (read with
 * {@link Npy#read}) by name, and prints each output's shape and first values. Where the eager
 * PyTorch outputs lie beside the model ({@code NAME_out0.npy, ...}) they are compared, and a
 * mismatch exits 1.
 *
 * <p>Arguments: {@code [model.onnx [input0.npy input1.npy ...]]}. The model defaults to
 * {@code testdata/real-models/resnet50_op17.onnx} (relative to the repository root, where
 * {@code examples/run.sh} runs it); the inputs default to {@code NAME_in0.npy, ...} beside it.
 */
public final class RunOnnx {
    public static void main(String[] args) throws IOException {
        Path model = Path.of(args.length > 0 ? args[0] : "testdata/real-models/resnet50_op17.onnx");
        boolean ok = true;
        try (Scope scope = Scope.open(); OnnxExecutor executor = new OnnxExecutor(OnnxReader.read(model))) {
            List<Tensor> inputs = new ArrayList<>();
            for (int i = 1; i < args.length; i++) inputs.add(Npy.read(Path.of(args[i])));
            if (inputs.isEmpty()) inputs = Goldens.beside(model, "in");
            List<Tensor> golden = Goldens.beside(model, "out");

            // graph inputs in declaration order (initializers excluded), fed by name
            List<ValueInfo> feeds = executor.feedInputs();
            if (feeds.size() != inputs.size())
                throw new IllegalArgumentException(model + " takes " + feeds.size() + " inputs, got " + inputs.size());
            Map<String, Value> feed = new LinkedHashMap<>();
            for (int i = 0; i < feeds.size(); i++) feed.put(feeds.get(i).name(), Value.of(inputs.get(i)));

            System.out.println(model.getFileName() + ": " + feeds.size() + " input(s)");
            int k = 0;
            for (Map.Entry<String, Value> out : executor.run(feed).entrySet()) {
                Tensor t = out.getValue().tensor();  // owned by us; the scope frees it
                ok &= Goldens.report(out.getKey(), t, k < golden.size() ? golden.get(k) : null);
                k++;
            }
        }
        if (!ok) System.exit(1);
    }
}
