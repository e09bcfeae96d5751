package dev.kiln.examples;

import dev.kiln.io.Npy;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Scope;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.TorchScriptModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs a TorchScript file ({@code torch.jit.trace} or {@code torch.jit.script}, saved with
 * {@code torch.jit.save}) on Kiln's interpreter: {@link TorchScriptModel#load}, then
 * {@code forward} with the inputs in order; tuple results are flattened. Prints each output's
 * shape and first values and, where {@code NAME_out0.npy, ...} lie beside the model, compares
 * them; a mismatch exits 1.
 *
 * <p>Arguments: {@code [model.pt [input0.npy input1.npy ...]]}. The model defaults to
 * {@code testdata/real-models/gpt2_script.pt} (a 2-layer GPT-2, relative to the repository
 * root); the inputs default to {@code NAME_in0.npy, ...} beside it.
 */
public final class RunTorchScript {
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args.length > 0 ? args[0] : "testdata/real-models/gpt2_script.pt");
        boolean ok = true;
        try (Scope scope = Scope.open(); TorchScriptModel model = TorchScriptModel.load(file)) {
            List<Tensor> inputs = new ArrayList<>();
            for (int i = 1; i < args.length; i++) inputs.add(Npy.read(Path.of(args[i])));
            if (inputs.isEmpty()) inputs = Goldens.beside(file, "in");
            List<Tensor> golden = Goldens.beside(file, "out");

            System.out.println(file.getFileName() + ": forward" + model.forwardArgumentNames());
            List<Tensor> outputs = new ArrayList<>();
            for (Object o : model.forward(inputs.toArray())) flatten(o, outputs);
            for (int k = 0; k < outputs.size(); k++)
                ok &= Goldens.report("output " + k, outputs.get(k), k < golden.size() ? golden.get(k) : null);
        }
        if (!ok) System.exit(1);
    }

    /** A result is a tensor or a (possibly nested) tuple of them. */
    private static void flatten(Object o, List<Tensor> out) {
        if (o instanceof PyTuple t) t.items().forEach(x -> flatten(x, out));
        else if (o instanceof Tensor t) out.add(t);
        else throw new IllegalStateException("unexpected output " + o);
    }
}
