package dev.kiln.compress.prune;

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
 * Saving and loading models of any layer sizes with Kiln's checkpoint format: the weights as in
 * {@link Checkpoint} (model only, no optimizer state), plus the {@link Architecture} line in the
 * metadata. Loading rebuilds the Sequential from that line, or, for checkpoints written by
 * {@code kiln train} (no architecture), from the "model" name (mlp / cnn).
 */
public final class PrunedCheckpoint {
    private PrunedCheckpoint() {}

    public record Loaded(Sequential model, Map<String, String> metadata) implements AutoCloseable {
        @Override public void close() { model.close(); }
    }

    /** Writes the model's weights and architecture (metadata given is kept; "architecture" is set here). */
    public static void save(Path file, Sequential model, Map<String, String> metadata) {
        LinkedHashMap<String, String> meta = new LinkedHashMap<>(metadata);
        meta.put(Architecture.METADATA_KEY, Architecture.describe(model));
        Checkpoint.save(file, model, null, meta);
    }

    public static Loaded load(Path file) {
        Map<String, String> meta = metadata(file);
        String arch = meta.get(Architecture.METADATA_KEY);
        Sequential model;
        if (arch != null) model = Architecture.build(arch, new Generator(0));
        else if (meta.containsKey("model")) model = Models.byName(meta.get("model"), new Generator(0));
        else throw new IllegalArgumentException(file + ": checkpoint names neither an architecture nor a model (mlp, cnn)");
        try {
            return new Loaded(model, Checkpoint.load(file, model, null));
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The checkpoint's string metadata (header only). */
    public static Map<String, String> metadata(Path file) {
        try (SafetensorsFile f = Safetensors.map(file)) {
            return new LinkedHashMap<>(f.metadata());
        }
    }
}
