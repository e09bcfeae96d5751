package dev.kiln.cli;

import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.TorchScriptModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A TorchScript file ({@code torch.jit.save}) for {@code kiln run}/{@code info}: inputs are
 * positional (forward's arguments after self); outputs are the tensors of the result, flattened
 * depth-first through tuples and lists, named output_0, output_1, ... Non-tensor results (ints,
 * floats) become 0-d tensors.
 */
final class TorchScriptRunner implements LoadedModel {
    private final TorchScriptModel model;
    private final Path file;

    private TorchScriptRunner(TorchScriptModel model, Path file) {
        this.model = model;
        this.file = file;
    }

    static LoadedModel open(Path file) throws IOException { return new TorchScriptRunner(TorchScriptModel.load(file), file); }

    @Override public String describe() { return model.describe(); }

    @Override
    public LinkedHashMap<String, Tensor> run(Map<String, Tensor> named, List<Tensor> positional) {
        if (!named.isEmpty())
            throw new IllegalArgumentException(file + ": TorchScript inputs are positional: use --input FILE.npy (got "
                    + String.join(", ", named.keySet()) + "=...)");
        List<Object> out = model.forward(positional.toArray());
        LinkedHashMap<String, Tensor> result = new LinkedHashMap<>();
        for (Object o : out) flatten(o, result);
        return result;
    }

    private void flatten(Object o, LinkedHashMap<String, Tensor> into) {
        switch (o) {
            case Tensor t -> into.put("output_" + into.size(), t);
            case PyTuple t -> t.items().forEach(x -> flatten(x, into));
            case Collection<?> c -> c.forEach(x -> flatten(x, into));
            case Long l -> into.put("output_" + into.size(), Tensor.scalar(l, dev.kiln.tensor.DType.I64));
            case Double d -> into.put("output_" + into.size(), Tensor.scalar(d, dev.kiln.tensor.DType.F64));
            case Boolean b -> into.put("output_" + into.size(), Tensor.scalar(b ? 1 : 0, dev.kiln.tensor.DType.BOOL));
            case null -> throw new IllegalArgumentException(file + ": forward returned None");
            default -> throw new IllegalArgumentException(file + ": forward returned a " + o.getClass().getSimpleName()
                    + ", which kiln run cannot write as .npy");
        }
    }

    @Override public void close() { model.close(); }
}
