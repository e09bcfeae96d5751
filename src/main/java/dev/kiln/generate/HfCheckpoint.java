package dev.kiln.generate;

import dev.kiln.backend.GemmEpilogue;
import dev.kiln.backend.cpu.NBitsVnni;
import dev.kiln.io.Json;
import dev.kiln.io.Safetensors;
import dev.kiln.ops.MatMul;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * What the native decoders ({@link Gpt2Decoder}, {@link LlamaDecoder}) share: a Hugging Face model
 * directory read ({@code config.json} and {@code model.safetensors}, tensors sealed so the GEMM
 * packs each weight once), checked lookups of config values and float32 weights, and the linear
 * layer that runs on weight-only int8/int4 copies ({@link NBitsVnni}) for steps of up to
 * {@link #QUANT_ROWS} tokens and on the float weights (f32 or bf16 products) otherwise.
 */
final class HfCheckpoint {
    /** Steps of at most this many tokens use the quantized weights (int8 / int4). */
    static final int QUANT_ROWS = 16;

    final Path dir;
    final Map<String, Object> config;
    final Map<String, Tensor> tensors;   // names as in the file
    private final Safetensors.Contents contents;

    private HfCheckpoint(Path dir, Map<String, Object> config, Safetensors.Contents contents) {
        this.dir = dir;
        this.config = config;
        this.contents = contents;
        this.tensors = new HashMap<>(contents.tensors());
    }

    /** Reads DIR/config.json (its model_type one of modelTypes) and DIR/model.safetensors. */
    static HfCheckpoint open(Path dir, String... modelTypes) throws IOException {
        Path cfgFile = dir.resolve("config.json"), weights = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(cfgFile)) throw new NoSuchFileException(cfgFile.toString(), null, "not a Hugging Face model directory (no config.json)");
        if (!Files.isRegularFile(weights)) throw new NoSuchFileException(weights.toString(), null, "no model.safetensors (sharded checkpoints are not supported yet)");
        if (!(Json.parse(Files.readString(cfgFile, StandardCharsets.UTF_8), cfgFile.toString()) instanceof Map<?, ?> m))
            throw new IllegalArgumentException(cfgFile + ": not a JSON object");
        @SuppressWarnings("unchecked") Map<String, Object> cfg = (Map<String, Object>) m;
        if (!java.util.List.of(modelTypes).contains(String.valueOf(cfg.get("model_type"))))
            throw new IllegalArgumentException(cfgFile + ": model_type " + cfg.get("model_type") + " is not " + String.join(" or ", modelTypes));
        Safetensors.Contents c = Safetensors.read(weights);
        for (Tensor t : c.tensors().values()) t.storage().seal();   // weights: constant, so the GEMM packs them once
        return new HfCheckpoint(dir, cfg, c);
    }

    /** The model_type of DIR/config.json, or null when there is no readable config. */
    static String modelType(Path dir) {
        try {
            return Json.parse(Files.readString(dir.resolve("config.json"), StandardCharsets.UTF_8), dir.toString()) instanceof Map<?, ?> m
                    ? String.valueOf(m.get("model_type")) : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Closes every tensor read from the file. */
    void close() { contents.tensors().values().forEach(Tensor::close); }

    int intOf(String key) {
        if (config.get(key) instanceof Long v && v > 0 && v <= Integer.MAX_VALUE) return (int) (long) v;
        throw new IllegalArgumentException(dir + ": config.json has no positive integer " + key);
    }

    int intOr(String key, int fallback) { return config.containsKey(key) && config.get(key) != null ? intOf(key) : fallback; }

    double doubleOr(String key, double fallback) { return config.get(key) instanceof Number n ? n.doubleValue() : fallback; }

    boolean has(String name) { return tensors.containsKey(name); }

    /** A float32 weight of the expected shape (-1: any size). */
    Tensor get(String name, int... shape) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException(dir + ": model.safetensors has no tensor " + name);
        if (t.dtype() != DType.F32) throw new IllegalArgumentException(dir + ": " + name + " is " + t.dtype() + " (float32 only so far)");
        int[] s = t.shape();
        boolean ok = s.length == shape.length;
        for (int i = 0; ok && i < s.length; i++) ok = shape[i] < 0 || s[i] == shape[i];
        if (!ok) throw new IllegalArgumentException(dir + ": " + name + " has shape " + java.util.Arrays.toString(s) + ", expected " + java.util.Arrays.toString(shape));
        return t;
    }

    /** w [k, n] quantized for the format's bits, or null for the float formats. */
    static NBitsVnni.Weights quantize(Tensor w, WeightFormat format) {
        return format.bits() == 0 ? null : NBitsVnni.quantize(w, format.bits());
    }

    /**
     * act(a [rows, k] x w [k, n] + bias): on q (w's quantized copy) when given and rows <= QUANT_ROWS,
     * one row at a time; else the float GEMM (bf16 products when bf16).
     */
    static Tensor linear(Tensor a, Tensor w, NBitsVnni.Weights q, Tensor bias, UnaryOp act, boolean bf16) {
        int rows = a.size(0);
        if (q == null || rows > QUANT_ROWS) return MatMul.linear(a, w, bias, act, bf16);
        int k = a.size(1), n = q.cols();
        float[] x = a.toFloatArray(), y = new float[rows * n], row = rows == 1 ? x : new float[k], out = rows == 1 ? y : new float[n];
        for (int r = 0; r < rows; r++) {
            if (rows > 1) System.arraycopy(x, r * k, row, 0, k);
            NBitsVnni.gemv(q, row, out, NBitsVnni.available());
            if (rows > 1) System.arraycopy(out, 0, y, r * n, n);
        }
        Tensor t = Tensor.fromArray(y, rows, n);
        if (bias != null || act != null) new GemmEpilogue(bias, act).applySeparately(t);
        return t;
    }
}
