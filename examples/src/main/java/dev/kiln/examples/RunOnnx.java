package dev.kiln.examples;

import dev.kiln.io.Npy;
import dev.kiln.onnx.OnnxExecutor;
import dev.kiln.onnx.OnnxReader;
import dev.kiln.onnx.ValueInfo;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs an ONNX model on Kiln's {@link OnnxExecutor}: reads the file, runs it on input tensors (read
 * with {@link Npy#read}) given in the order of its inputs, and prints each output's shape and first values. Where the eager
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

            // tensors in the order of the graph's inputs (initializers excluded); outputs in declaration order
            List<ValueInfo> feeds = executor.feedInputs();
            System.out.println(model.getFileName() + ": " + feeds.size() + " input(s) " + feeds.stream().map(ValueInfo::name).toList());
            List<Tensor> outputs = executor.run(inputs);   // owned by us; the scope frees them
            List<ValueInfo> names = executor.model().graph().outputs();
            for (int k = 0; k < outputs.size(); k++)
                ok &= Goldens.report(names.get(k).name(), outputs.get(k), k < golden.size() ? golden.get(k) : null);
        }
        if (!ok) System.exit(1);
    }
}
