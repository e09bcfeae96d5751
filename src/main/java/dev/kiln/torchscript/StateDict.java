package dev.kiln.torchscript;

import dev.kiln.autograd.GradMode;
import dev.kiln.io.KilnFormatException;
import dev.kiln.nn.Module;
import dev.kiln.pickle.PyObject;
import dev.kiln.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * PyTorch state dicts: {@link #load} reads {@code torch.save(model.state_dict(), f)} files (and
 * checkpoints that nest them, e.g. {"model": state_dict, "epoch": 3}: nested dicts flatten to
 * dotted names, non-tensor values and non-string keys are skipped (their tensors freed); a torch.jit.save module gives its tensor
 * attributes by dotted path). {@link #loadInto} copies them into a Kiln {@link Module} by
 * PyTorch's names ("0.weight", "fc1.bias", "bn.running_mean").
 */
public final class StateDict {
    private StateDict() {}

    private static final String BATCHES = "num_batches_tracked";

    /** name -> tensor, in file order; the tensors belong to the caller. */
    public static Map<String, Tensor> load(Path file) throws KilnFormatException {
        Object root;
        try (TorchArchive a = TorchArchive.open(file)) {
            root = a.data();
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            if (!(root instanceof Map<?, ?>) && !(root instanceof PyObject))
                throw new KilnFormatException(file + ": data.pkl holds a " + (root == null ? "None" : root.getClass().getSimpleName()) + ", not a state dict");
            collect(file, "", root, out);
            if (out.isEmpty()) throw new KilnFormatException(file + ": the state dict holds no tensors");
            TorchArchive.closeTensorsExcept(root, out.values()); // e.g. optimizer state in a checkpoint
            return out;
        } catch (KilnFormatException | RuntimeException e) {
            TorchArchive.closeTensors(root);
            throw e;
        }
    }

    /** Flattens dicts (and TorchScript module objects) into dotted names; depth is bounded by the unpickler. */
    private static void collect(Path file, String prefix, Object v, Map<String, Tensor> out) throws KilnFormatException {
        Map<?, ?> m = v instanceof PyObject o ? o.state() : (Map<?, ?>) v;
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (!(e.getKey() instanceof String k)) continue; // e.g. optimizer state indexed by parameter number
            String name = prefix + k;
            Object val = e.getValue();
            if (val instanceof Tensor t) {
                if (out.put(name, t) != null) throw new KilnFormatException(file + ": duplicate state dict key " + name);
            } else if (val instanceof Map<?, ?> || val instanceof PyObject) {
                collect(file, name + ".", val, out);
            }
        }
    }

    /**
     * Copies sd into m's parameters and buffers by name (values cast to each destination's dtype).
     * With strict, keys the module lacks or misses are an error naming them; a
     * "num_batches_tracked" counter on only one side is skipped (PyTorch's BatchNorm writes it,
     * older checkpoints lack it). A shape mismatch is always an error. Nothing is copied unless
     * every check passes.
     */
    public static void loadInto(Module m, Map<String, Tensor> sd, boolean strict) {
        Map<String, Tensor> mine = m.stateDict();
        List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>(), shapes = new ArrayList<>();
        for (String k : mine.keySet()) if (!sd.containsKey(k) && !k.endsWith(BATCHES)) missing.add(k);
        for (var e : sd.entrySet()) {
            Tensor dst = mine.get(e.getKey());
            if (dst == null) {
                if (!e.getKey().endsWith(BATCHES)) unexpected.add(e.getKey());
            } else if (!Arrays.equals(dst.shape(), e.getValue().shape())) {
                shapes.add(e.getKey() + " is " + Arrays.toString(e.getValue().shape()) + " in the state dict but "
                        + Arrays.toString(dst.shape()) + " in the model");
            }
        }
        List<String> problems = new ArrayList<>();
        if (strict && !missing.isEmpty()) problems.add("missing keys " + missing);
        if (strict && !unexpected.isEmpty()) problems.add("unexpected keys " + unexpected);
        if (!shapes.isEmpty()) problems.add("shape mismatch: " + String.join("; ", shapes));
        if (!problems.isEmpty())
            throw new IllegalArgumentException("load_state_dict into " + m.getClass().getSimpleName() + ": " + String.join(", ", problems));
        try (var g = GradMode.noGrad()) {
            for (var e : mine.entrySet()) {
                Tensor src = sd.get(e.getKey());
                if (src != null) e.getValue().copyFrom(src);
            }
        }
    }
}
