package dev.kiln.compress;

import dev.kiln.compress.quant.QuantizedConv2d;
import dev.kiln.compress.quant.QuantizedLinear;
import dev.kiln.io.Safetensors;
import dev.kiln.io.SafetensorsFile;
import dev.kiln.nn.Sequential;
import dev.kiln.tensor.Generator;
import dev.kiln.train.Checkpoint;
import dev.kiln.train.Models;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Saving and loading models of any architecture (structurally pruned, fused, ...) in Kiln's
 * checkpoint format: the weights as in {@link Checkpoint} (model only, no optimizer state) plus
 * the {@link Architecture} line under the metadata key "architecture". Loading rebuilds the
 * Sequential from that line, or, for checkpoints written by {@code kiln train} (no architecture),
 * from the "model" name ({@link Models#byName}). Quantized layers keep their int8 weights as I8
 * tensors ("N.weight_int8") next to F32 per-channel scales ("N.weight_scale") and biases.
 */
public final class ModelCheckpoint {
    private ModelCheckpoint() {}

    /** Metadata key of the architecture line. */
    public static final String ARCHITECTURE_KEY = "architecture";
    /** Metadata key of a named model (mlp, cnn, ...), as {@code kiln train} writes it. */
    public static final String MODEL_KEY = "model";

    /** A loaded model (training mode, as freshly built) and the checkpoint's metadata. */
    public record Loaded(Sequential model, Map<String, String> metadata) implements AutoCloseable {
        @Override public void close() { model.close(); }
    }

    /** Writes the model's weights and architecture (the metadata given is kept; "architecture" is set here). */
    public static void save(Path file, Sequential model, Map<String, String> metadata) {
        LinkedHashMap<String, String> meta = dev.kiln.io.Safetensors.stableOrder(metadata);
        meta.put(ARCHITECTURE_KEY, Architecture.describe(model));
        Checkpoint.save(file, model, null, meta);
    }

    /** Rebuilds the model a checkpoint describes and loads its weights. */
    public static Loaded load(Path file) {
        Map<String, String> meta = metadata(file);
        Sequential model = build(file, meta);
        try {
            Map<String, String> loadedMeta = Checkpoint.load(file, model, null);
            reloadQuantized(file, model);
            return new Loaded(model, loadedMeta);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * Quantized layers derive their GEMM data from the state tensors just loaded, and hand int8
     * codes to each other where they can ({@link dev.kiln.compress.quant.Quantize#chainCodes}).
     */
    private static void reloadQuantized(Path file, Sequential model) {
        for (int i = 0; i < model.size(); i++) {
            try {
                if (model.get(i) instanceof QuantizedLinear q) q.reloadState();
                else if (model.get(i) instanceof QuantizedConv2d q) q.reloadState();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ": layer " + i + ": " + e.getMessage(), e);
            }
        }
        dev.kiln.compress.quant.Quantize.chainCodes(model);
    }

    /** Whether a checkpoint carries its own architecture (else it names a model, or neither). */
    public static boolean hasArchitecture(Path file) {
        return metadata(file).containsKey(ARCHITECTURE_KEY);
    }

    /** The checkpoint's string metadata (header only). */
    public static Map<String, String> metadata(Path file) {
        try (SafetensorsFile f = Safetensors.map(file)) {
            return new LinkedHashMap<>(f.metadata());
        }
    }

    private static Sequential build(Path file, Map<String, String> meta) {
        String arch = meta.get(ARCHITECTURE_KEY);
        try {
            if (arch != null) return Architecture.build(arch);
            if (meta.containsKey(MODEL_KEY)) return Models.byName(meta.get(MODEL_KEY), new Generator(0));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
        throw new IllegalArgumentException(file + ": checkpoint metadata has neither an architecture nor a model name (one of "
                + Models.NAMES + "); was it written by kiln train, prune or fuse?");
    }
}
