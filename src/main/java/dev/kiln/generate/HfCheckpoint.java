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
 * directory read ({@code config.json} and {@code model.safetensors} or its shards, tensors sealed so the GEMM
 * packs each weight once), checked lookups of config values and float32 weights, and the linear
 * layer that runs on weight-only int8/int4 copies ({@link NBitsVnni}) for steps of up to
 * {@link #QUANT_ROWS} tokens and on the float weights (f32 or bf16 products) otherwise.
 */
final class HfCheckpoint {
    /** Steps of at most this many tokens use the quantized weights (int8 / int4). */
    static final int QUANT_ROWS = 16;

    final Path dir;
    final Map<String, Object> config;
    final Map<String, Tensor> tensors;   // names as in the file(s)
    private final java.util.List<Safetensors.Contents> contents;

    private HfCheckpoint(Path dir, Map<String, Object> config, java.util.List<Safetensors.Contents> contents, Map<String, Tensor> tensors) {
        this.dir = dir;
        this.config = config;
        this.contents = contents;
        this.tensors = tensors;
    }

    /**
     * Reads DIR/config.json (its model_type one of modelTypes) and DIR/model.safetensors, or a
     * sharded checkpoint: DIR/model.safetensors.index.json, whose weight_map names for each tensor
     * its shard, a plain file name in DIR (each shard read once; a tensor missing from the shard
     * that the index names for it, or found in two shards, is an error naming both).
     */
    static HfCheckpoint open(Path dir, String... modelTypes) throws IOException {
        Path cfgFile = dir.resolve("config.json"), weights = dir.resolve("model.safetensors"), index = dir.resolve("model.safetensors.index.json");
        if (!Files.isRegularFile(cfgFile)) throw new NoSuchFileException(cfgFile.toString(), null, "not a Hugging Face model directory (no config.json)");
        if (!Files.isRegularFile(weights) && !Files.isRegularFile(index))
            throw new NoSuchFileException(weights.toString(), null, "no model.safetensors nor model.safetensors.index.json");
        if (!(Json.parse(Files.readString(cfgFile, StandardCharsets.UTF_8), cfgFile.toString()) instanceof Map<?, ?> m))
            throw new IllegalArgumentException(cfgFile + ": not a JSON object");
        @SuppressWarnings("unchecked") Map<String, Object> cfg = (Map<String, Object>) m;
        if (!java.util.List.of(modelTypes).contains(String.valueOf(cfg.get("model_type"))))
            throw new IllegalArgumentException(cfgFile + ": model_type " + cfg.get("model_type") + " is not " + String.join(" or ", modelTypes));
        java.util.List<Safetensors.Contents> read = new java.util.ArrayList<>();
        Map<String, Tensor> all = new HashMap<>();
        try {
            if (Files.isRegularFile(weights)) {
                read.add(Safetensors.read(weights));
                all.putAll(read.get(0).tensors());
            } else {
                Map<String, String> map = weightMap(index);
                Map<String, Safetensors.Contents> shards = new java.util.LinkedHashMap<>();
                for (String shard : new java.util.TreeSet<>(map.values())) {
                    Safetensors.Contents c = Safetensors.read(dir.resolve(shard));
                    read.add(c);
                    shards.put(shard, c);
                }
                for (Map.Entry<String, String> e : map.entrySet()) {
                    Tensor t = shards.get(e.getValue()).tensors().get(e.getKey());
                    if (t == null) throw new IllegalArgumentException(index + ": tensor " + e.getKey() + " is not in " + e.getValue());
                    all.put(e.getKey(), t);
                }
                for (Map.Entry<String, Safetensors.Contents> e : shards.entrySet())
                    for (String name : e.getValue().tensors().keySet())
                        if (!e.getKey().equals(map.get(name)))
                            throw new IllegalArgumentException(index + ": tensor " + name + " is in " + e.getKey() + " but the index names "
                                    + (map.get(name) == null ? "no shard" : map.get(name)) + " for it");
            }
        } catch (IOException | RuntimeException e) {
            read.forEach(c -> c.tensors().values().forEach(Tensor::close));
            throw e;
        }
        for (Tensor t : all.values()) t.storage().seal();   // weights: constant, so the GEMM packs them once
        return new HfCheckpoint(dir, cfg, read, all);
    }

    /** model.safetensors.index.json's weight_map: tensor name -> shard file name (a plain name in the directory). */
    private static Map<String, String> weightMap(Path index) throws IOException {
        if (!(Json.parse(Files.readString(index, StandardCharsets.UTF_8), index.toString()) instanceof Map<?, ?> m)
                || !(m.get("weight_map") instanceof Map<?, ?> wm) || wm.isEmpty())
            throw new IllegalArgumentException(index + ": no weight_map object");
        Map<String, String> map = new java.util.TreeMap<>();
        for (Map.Entry<?, ?> e : wm.entrySet()) {
            if (!(e.getValue() instanceof String shard) || !shard.matches("[A-Za-z0-9._-]+") || shard.startsWith("."))
                throw new IllegalArgumentException(index + ": weight_map entry " + e.getKey() + " names '" + e.getValue()
                        + "', not a file name in the model directory");
            map.put(String.valueOf(e.getKey()), shard);
        }
        return map;
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
    void close() { contents.forEach(c -> c.tensors().values().forEach(Tensor::close)); }

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

    /** The rows of table for the token ids (a step's embeddings, [n, width]). */
    static Tensor embed(Tensor table, int[] ids) {
        long[] lid = new long[ids.length];
        for (int i = 0; i < ids.length; i++) lid[i] = ids[i];
        return dev.kiln.ops.Indexing.indexSelect(table, 0, Tensor.fromArray(lid, ids.length));
    }

    /**
     * The additive causal mask of a step of n tokens after length cached ones ([n, length + n]:
     * query i sees keys 0 .. length + i), or null for one token (it sees everything).
     */
    static Tensor causalMask(int n, int length) {
        if (n <= 1) return null;
        int total = length + n;
        float[] m = new float[n * total];
        for (int i = 0; i < n; i++) for (int j = length + i + 1; j < total; j++) m[i * total + j] = Float.NEGATIVE_INFINITY;
        return Tensor.fromArray(m, n, total);
    }

    /** Frees a decoder's quantized weights (per layer, null entries skipped, and the head's). */
    static void close(NBitsVnni.Weights[][] layers, NBitsVnni.Weights head) {
        for (NBitsVnni.Weights[] l : layers)
            if (l != null) for (NBitsVnni.Weights q : l) if (q != null) q.close();
        if (head != null) head.close();
    }

    /**
     * act(a [rows, k] x w [k, n] + bias): on q (w's quantized copy) when given and rows <= QUANT_ROWS
     * or there is no float w (a file's own quantized weight), rows read each weight once per group of 8 ({@link NBitsVnni#gemvRows}); else the float GEMM
     * (bf16 products when bf16).
     */
    static Tensor linear(Tensor a, Tensor w, NBitsVnni.Weights q, Tensor bias, UnaryOp act, boolean bf16) {
        int rows = a.size(0);
        if (q == null || rows > QUANT_ROWS && w != null) return MatMul.linear(a, w, bias, act, bf16);
        int k = a.size(1), n = q.cols();
        float[] x = a.toFloatArray(), y = new float[rows * n];
        NBitsVnni.gemvRows(q, x, k, rows, y, NBitsVnni.available());     // each weight read once per group of rows
        Tensor t = Tensor.fromArray(y, rows, n);
        if (bias != null || act != null) new GemmEpilogue(bias, act).applySeparately(t);
        return t;
    }
}
