package dev.kiln.train;

import dev.kiln.io.Safetensors;
import dev.kiln.nn.Module;
import dev.kiln.optim.Optimizer;
import dev.kiln.tensor.Tensor;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Model + optimizer checkpoints in one safetensors file (readable by other tools): tensors
 * "model.&lt;name&gt;" and "optim.&lt;key&gt;", string metadata (epoch, model name, ...) in
 * "__metadata__". Saving is atomic (temp file + fsync + rename), so a crash leaves the previous
 * checkpoint intact.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String FORMAT = "kiln-checkpoint-1";

    public static void save(Path file, Module model, Optimizer opt, Map<String, String> metadata) {
        LinkedHashMap<String, Tensor> all = new LinkedHashMap<>();
        for (var e : model.stateDict().entrySet()) all.put("model." + e.getKey(), e.getValue());
        Map<String, Tensor> os = opt == null ? Map.of() : opt.stateDict();
        for (var e : os.entrySet()) all.put("optim." + e.getKey(), e.getValue());
        LinkedHashMap<String, String> meta = Safetensors.stableOrder(metadata);
        meta.put("format", FORMAT);
        try {
            Safetensors.write(file, all, meta);
        } finally {
            // the step/lr scalars were made for this save
            for (var e : os.entrySet()) if (e.getKey().equals("step") || e.getKey().equals("lr")) e.getValue().close();
        }
    }

    /** Loads into an existing model (strict names and shapes) and optimizer; returns the metadata. */
    public static Map<String, String> load(Path file, Module model, Optimizer opt) {
        try (Safetensors.Contents c = Safetensors.read(file)) {
            return parts(file, c).into(model, opt);
        }
    }

    /** An open checkpoint file's metadata, model tensors and optimizer tensors (names without their "model." / "optim." prefix). */
    public record Parts(Path file, Map<String, String> metadata, Map<String, Tensor> model, Map<String, Tensor> optim) {
        /** Loads the model tensors into model (strict names and shapes) and, unless opt is null, the optimizer's; returns the metadata. */
        public Map<String, String> into(Module model, Optimizer opt) {
            try {
                model.loadStateDict(this.model, true);
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException(file + ": " + ex.getMessage());
            }
            if (opt != null) opt.loadStateDict(optim);
            return metadata;
        }
    }

    /** The parts of c, read from file; a one-line error unless it is a Kiln checkpoint. The tensors live as long as c. */
    public static Parts parts(Path file, Safetensors.Contents c) {
        if (!FORMAT.equals(c.metadata().get("format")))
            throw new IllegalArgumentException(file + ": not a Kiln checkpoint (metadata format=" + c.metadata().get("format") + ")");
        LinkedHashMap<String, Tensor> m = new LinkedHashMap<>(), o = new LinkedHashMap<>();
        for (var e : c.tensors().entrySet()) {
            String k = e.getKey();
            if (k.startsWith("model.")) m.put(k.substring(6), e.getValue());
            else if (k.startsWith("optim.")) o.put(k.substring(6), e.getValue());
            else throw new IllegalArgumentException(file + ": unexpected tensor '" + k + "' in checkpoint");
        }
        return new Parts(file, c.metadata(), m, o);
    }
}
