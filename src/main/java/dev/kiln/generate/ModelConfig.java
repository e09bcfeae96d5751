package dev.kiln.generate;

import dev.kiln.io.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The configuration next to a decoder file (an ONNX or TorchScript export): {@code STEM_config.json}
 * (the stem without its extension, and also without a {@code _trace} / {@code _script} suffix), else
 * {@code config.json} in the same directory, read as a JSON object; Hugging Face's key names for the
 * sizes ({@code n_layer} / {@code num_hidden_layers}, ...).
 */
public final class ModelConfig {
    private final Map<?, ?> values;
    private final Path source;

    private ModelConfig(Map<?, ?> values, Path source) {
        this.values = values;
        this.source = source;
    }

    /** The config next to model, or an empty one (source null) when there is none. */
    public static ModelConfig near(Path model) throws IOException {
        Path dir = model.toAbsolutePath().getParent();
        String stem = model.getFileName().toString().replaceFirst("\\.[A-Za-z0-9]+$", "");
        String base = stem.replaceFirst("_(trace|traced|script|scripted)$", "");
        for (Path c : new Path[] {dir.resolve(stem + "_config.json"), dir.resolve(base + "_config.json"), dir.resolve("config.json")}) {
            if (!Files.isRegularFile(c)) continue;
            if (Json.parse(Files.readString(c, StandardCharsets.UTF_8), c.toString()) instanceof Map<?, ?> m) return new ModelConfig(m, c);
            throw new IllegalArgumentException(c + ": not a JSON object");
        }
        return new ModelConfig(Map.of(), null);
    }

    /** The file read, or null. */
    public Path source() { return source; }

    /** The first of keys that holds a positive integer, else 0. */
    public int intOf(String... keys) {
        for (String k : keys) if (values.get(k) instanceof Long v && v > 0 && v <= Integer.MAX_VALUE) return (int) (long) v;
        return 0;
    }

    /** The context length (n_positions, n_ctx or max_position_embeddings), or 0 when the config does not say. */
    public int contextLength() { return intOf("n_positions", "n_ctx", "max_position_embeddings"); }
}
