package dev.kiln.generate;

import dev.kiln.io.Json;
import dev.kiln.onnx.OnnxExecutor;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.ArrayList;
import dev.kiln.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The generation loop on the tiny GPT-2 ONNX decoder of testdata/decoder (optimum-style past/present
 * names, untied head, random weights): greedy ids equal the PyTorch greedy loop's, 32 new tokens per
 * prompt; seeded sampling repeats; stops and limits.
 */
class GeneratorTest {
    /** A model directory a test assembles (copies and edited configs of the fixtures). */
    @org.junit.jupiter.api.io.TempDir Path tmp;

    static List<Map<String, Object>> cases() throws Exception { return cases("greedy.json"); }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> cases(String file) throws Exception {
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(BpeTokenizerTest.DIR.resolve(file)), file);
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : (List<Object>) root.get("cases")) out.add((Map<String, Object>) o);
        return out;
    }

    @SuppressWarnings("unchecked")
    static int[] ints(Object list) { return ((List<Object>) list).stream().mapToInt(v -> (int) (long) (Long) v).toArray(); }

    /** Greedy generation of n new tokens after the prompt ids, no stops. */
    static TextGenerator.Result greedy(TextGenerator g, int[] prompt, int n) {
        return g.generate(prompt, new TextGenerator.Options(n, Set.of(), List.of()), Sampler.greedy(), null, null);
    }

    static OnnxDecoder decoder() throws Exception {
        return OnnxDecoder.open(BpeTokenizerTest.DIR.resolve("gpt2_tiny.onnx"), OnnxExecutor.Precision.F32, 128);
    }

    @Test
    void greedyIdsEqualPyTorchsGreedyLoop() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        List<Map<String, Object>> cs = cases();
        assertTrue(cs.size() >= 3);
        try (OnnxDecoder d = decoder()) {
            TextGenerator g = new TextGenerator(d, tok);
            for (Map<String, Object> c : cs) {
                int[] prompt = ints(c.get("prompt_ids")), want = ints(c.get("new_ids"));
                assertArrayEquals(prompt, tok.encode((String) c.get("prompt")), "prompt ids of " + c.get("prompt"));
                assertTrue(java.util.Arrays.stream(want).distinct().count() >= 5, "the golden is degenerate");
                TextGenerator.Result r = greedy(g, prompt, want.length);
                assertArrayEquals(want, r.ids(), "new ids after " + c.get("prompt"));
                assertEquals(tok.decode(want), r.text());
                assertEquals("max_new_tokens", r.stopReason());
            }
        }
    }

    /**
     * A decoder whose cache has other names (the fixture with its past and present renamed
     * past_k.{i} / past_v.{i} -> new_k.{i} / new_v.{i}) runs with those names given as a
     * {@link KvNames} (kiln generate --kv-map) and gives PyTorch's greedy ids; without them, one line
     * that points to --kv-map; malformed maps are one line each.
     */
    @Test
    void otherCacheNamesRunWithAKvMap() throws Exception {
        java.util.function.UnaryOperator<String> rename = n -> n.replaceFirst("^past_key_values\\.(\\d+)\\.key$", "past_k.$1")
                .replaceFirst("^past_key_values\\.(\\d+)\\.value$", "past_v.$1").replaceFirst("^present\\.(\\d+)\\.key$", "new_k.$1")
                .replaceFirst("^present\\.(\\d+)\\.value$", "new_v.$1");
        dev.kiln.onnx.OnnxModel m = dev.kiln.onnx.OnnxReader.read(BpeTokenizerTest.DIR.resolve("gpt2_tiny.onnx"));
        Path renamed = tmp.resolve("renamed.onnx");
        try {
            var g = m.graph();
            java.util.function.Function<dev.kiln.onnx.ValueInfo, dev.kiln.onnx.ValueInfo> info =
                    v -> new dev.kiln.onnx.ValueInfo(rename.apply(v.name()), v.kind(), v.elemType(), v.dims(), v.elem());
            List<dev.kiln.onnx.OnnxNode> nodes = g.nodes().stream().map(n -> new dev.kiln.onnx.OnnxNode(n.name(), n.opType(), n.domain(),
                    n.inputs().stream().map(rename).toList(), n.outputs().stream().map(rename).toList(), n.attributes())).toList();
            dev.kiln.onnx.export.OnnxModelWriter.write(new dev.kiln.onnx.OnnxModel(m.irVersion(), m.producerName(), m.producerVersion(), m.opsets(),
                    new dev.kiln.onnx.OnnxGraph(g.name(), nodes, g.inputs().stream().map(info).toList(), g.outputs().stream().map(info).toList(),
                            g.valueInfo().stream().map(info).toList(), g.initializers())), renamed);
        } finally {
            OnnxExecutor.release(m);
        }
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        Map<String, Object> c = cases().get(0);
        int[] prompt = ints(c.get("prompt_ids")), want = ints(c.get("new_ids"));
        KvNames kv = KvNames.parse("past_k.{i},past_v.{i}=new_k.{i},new_v.{i}");
        try (OnnxDecoder d = OnnxDecoder.open(renamed, OnnxExecutor.Precision.F32, 128, kv)) {
            assertArrayEquals(want, greedy(new TextGenerator(d, tok), prompt, want.length).ids());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OnnxDecoder.open(renamed, OnnxExecutor.Precision.F32, 128));
        assertTrue(e.getMessage().contains("--kv-map") && e.getMessage().contains("past_k.0"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        // the outputs misnamed: the first missing present is named
        e = assertThrows(IllegalArgumentException.class, () -> OnnxDecoder.open(renamed, OnnxExecutor.Precision.F32, 128,
                KvNames.parse("past_k.{i},past_v.{i}=present.{i}.key,present.{i}.value")));
        assertEquals(renamed + ": missing output present.0.key", e.getMessage());
        for (String bad : new String[]{"past_k.{i},past_v.{i}", "past_k,past_v.{i}=new_k.{i},new_v.{i}", "a{i},b{i}=a{i},c{i}", "a{i}=b{i},c{i}"}) {
            e = assertThrows(IllegalArgumentException.class, () -> KvNames.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("kv-map: "), e.getMessage());
        }
        assertEquals(KvNames.OPTIMUM, KvNames.parse(KvNames.OPTIMUM.toString()));
    }

    /**
     * A Llama-architecture decoder (RMSNorm, rotary embeddings, SwiGLU, grouped-query attention with
     * 2 key/value heads for 4 query heads, untied head) from the same ONNX path: PyTorch's greedy ids.
     */
    @Test
    void llamaGreedyIdsEqualPyTorchs() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        try (OnnxDecoder d = OnnxDecoder.open(BpeTokenizerTest.DIR.resolve("llama_tiny.onnx"), OnnxExecutor.Precision.F32, 128)) {
            TextGenerator g = new TextGenerator(d, tok);
            List<Map<String, Object>> cs = cases("llama_greedy.json");
            assertEquals(3, cs.size());
            for (Map<String, Object> c : cs) {
                int[] prompt = ints(c.get("prompt_ids")), want = ints(c.get("new_ids"));
                assertTrue(java.util.Arrays.stream(want).distinct().count() >= 5, "the golden is degenerate");
                TextGenerator.Result r = greedy(g, prompt, want.length);
                assertArrayEquals(want, r.ids(), "Llama: new ids after " + c.get("prompt"));
            }
        }
    }

    /** GPT-2 on Kiln's own ops from a Hugging Face directory (config.json + model.safetensors, untied head): PyTorch's greedy ids. */
    @Test
    void nativeGpt2FromSafetensorsEqualsPyTorch() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        try (Gpt2Decoder d = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"))) {
            assertEquals(128, d.contextLength());
            TextGenerator g = new TextGenerator(d, tok);
            for (Map<String, Object> c : cases()) {
                int[] prompt = ints(c.get("prompt_ids")), want = ints(c.get("new_ids"));
                TextGenerator.Result r = greedy(g, prompt, want.length);
                assertArrayEquals(want, r.ids(), "native GPT-2: new ids after " + c.get("prompt"));
            }
            // flat memory: the cache is allocated once per session
            long[] at = new long[2];
            int[] count = {0};
            g.generate(new int[] {39, 493}, new TextGenerator.Options(100, Set.of(), List.of()), Sampler.sampling(1f, 0, 1f, 1f, 2), (id, t) -> {
                if (++count[0] == 10) at[0] = dev.kiln.tensor.Storage.liveCountIgnoringCleaner();
                if (count[0] == 100) at[1] = dev.kiln.tensor.Storage.liveCountIgnoringCleaner();
                return true;
            }, null);
            assertEquals(at[0], at[1], "storages leaked while generating");
        }
        // opt-in bf16 weights (where the CPU has a bf16 kernel; else f32): the first step's logits within 2% of f32's
        try (Gpt2Decoder f = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"));
             Gpt2Decoder h = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"), WeightFormat.BF16);
             Decoder.Session sf = f.newSession(); Decoder.Session sh = h.newSession()) {
            float[] a = sf.step(new int[] {39, 493, 78}), b = sh.step(new int[] {39, 493, 78});
            double err = 0, scale = 0;
            for (int i = 0; i < a.length; i++) {
                err = Math.max(err, Math.abs(a[i] - b[i]));
                scale = Math.max(scale, Math.abs(a[i]));
            }
            assertTrue(err <= 0.02 * scale, "bf16 vs f32 logits: " + err + " of " + scale);
        }
        // weight-only int8 / int4 (random weights: no outliers, the worst case for 4 bits): decode-sized steps on the
        // quantized weights, close to f32 and the same argmax; a 20-token prefill runs on the float weights, bit for bit
        for (WeightFormat fmt : new WeightFormat[] {WeightFormat.INT8, WeightFormat.INT4}) {
            try (Gpt2Decoder f = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"));
                 Gpt2Decoder q = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"), fmt);
                 Decoder.Session sf = f.newSession(); Decoder.Session sq = q.newSession()) {
                assertEquals(fmt, q.format());
                for (int[] ids : new int[][] {{39, 493, 78}, {12}, {501}}) {
                    assertCloseWithSameArgmax(sf.step(ids), sq.step(ids), fmt == WeightFormat.INT8 ? 0.999 : 0.94, fmt.toString());
                }
            }
            try (Gpt2Decoder f = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"));
                 Gpt2Decoder q = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"), fmt);
                 Decoder.Session sf = f.newSession(); Decoder.Session sq = q.newSession()) {
                int[] prompt = new int[Gpt2Decoder.QUANT_ROWS + 4];
                for (int i = 0; i < prompt.length; i++) prompt[i] = 7 * i + 3;
                assertArrayEquals(sf.step(prompt), sq.step(prompt), fmt + ": a long prefill runs on the float weights");
            }
        }
        java.nio.file.NoSuchFileException e = assertThrows(java.nio.file.NoSuchFileException.class, () -> Gpt2Decoder.load(BpeTokenizerTest.DIR));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }

    /**
     * The Llama family on Kiln's own ops from a Hugging Face directory (LlamaForCausalLM names, grouped-query
     * attention, RoPE, SwiGLU, untied head): PyTorch's greedy ids; int8 close to f32 with the same argmax; a
     * 20-token prefill on the float weights bit for bit; one-line errors for rope_scaling and unknown model types.
     */
    @Test
    void nativeLlamaFromSafetensorsEqualsPyTorch() throws Exception {
        Path dir = BpeTokenizerTest.DIR.resolve("llama_tiny_hf");
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        try (Decoder d = Decoder.huggingFace(dir, WeightFormat.F32)) {
            assertTrue(d instanceof LlamaDecoder);
            assertEquals(128, d.contextLength());
            TextGenerator g = new TextGenerator(d, tok);
            for (Map<String, Object> c : cases("llama_greedy.json")) {
                int[] prompt = ints(c.get("prompt_ids")), want = ints(c.get("new_ids"));
                TextGenerator.Result r = greedy(g, prompt, want.length);
                assertArrayEquals(want, r.ids(), "native Llama: new ids after " + c.get("prompt"));
            }
        }
        try (LlamaDecoder f = LlamaDecoder.load(dir, WeightFormat.F32); LlamaDecoder q = LlamaDecoder.load(dir, WeightFormat.INT8);
             Decoder.Session sf = f.newSession(); Decoder.Session sq = q.newSession();
             Decoder.Session lf = f.newSession(); Decoder.Session lq = q.newSession()) {
            for (int[] ids : new int[][] {{39, 493, 78}, {12}, {501}}) {
                assertCloseWithSameArgmax(sf.step(ids), sq.step(ids), 0.999, "int8");
            }
            int[] prompt = new int[Gpt2Decoder.QUANT_ROWS + 4];
            for (int i = 0; i < prompt.length; i++) prompt[i] = 5 * i + 1;
            assertArrayEquals(lf.step(prompt), lq.step(prompt), "a long prefill runs on the float weights");
        }
        java.nio.file.Files.copy(dir.resolve("model.safetensors"), tmp.resolve("model.safetensors"));
        String cfg = java.nio.file.Files.readString(dir.resolve("config.json"));
        // linear rope scaling loads and changes every position but the first (position 0 is not rotated)
        java.nio.file.Files.writeString(tmp.resolve("config.json"), cfg.replace("\"rope_theta\"", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, \"rope_theta\""));
        try (Decoder plain = Decoder.huggingFace(dir, WeightFormat.F32); Decoder scaled = Decoder.huggingFace(tmp, WeightFormat.F32);
             Decoder.Session a = plain.newSession(); Decoder.Session b = scaled.newSession()) {
            assertArrayEquals(a.step(new int[] {39}), b.step(new int[] {39}), "position 0");
            assertTrue(!java.util.Arrays.equals(a.step(new int[] {493, 78}), b.step(new int[] {493, 78})), "later positions are scaled");
        }
        java.nio.file.Files.writeString(tmp.resolve("config.json"), cfg.replace("\"rope_theta\"", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 2.0}, \"rope_theta\""));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Decoder.huggingFace(tmp, WeightFormat.F32));
        assertTrue(e.getMessage().contains("rope_scaling type yarn is not supported"), e.getMessage());
        java.nio.file.Files.writeString(tmp.resolve("config.json"), cfg.replace("\"llama\"", "\"falcon\""));
        e = assertThrows(IllegalArgumentException.class, () -> Decoder.huggingFace(tmp, WeightFormat.F32));
        assertTrue(e.getMessage().contains("model_type falcon is not supported natively"), e.getMessage());
    }

    /**
     * A sharded checkpoint (model.safetensors.index.json + shards, as Hugging Face writes large models)
     * gives the single file's logits; an index naming a path outside the directory, or a tensor in
     * another shard than the index says, is one line.
     */
    @Test
    void shardedCheckpointLoadsLikeOneFile() throws Exception {
        Path dir = BpeTokenizerTest.DIR.resolve("llama_tiny_hf");
        try (dev.kiln.io.Safetensors.Contents c = dev.kiln.io.Safetensors.read(dir.resolve("model.safetensors"))) {
            java.nio.file.Files.copy(dir.resolve("config.json"), tmp.resolve("config.json"));
            Map<String, Tensor> a = new java.util.TreeMap<>(), b = new java.util.TreeMap<>();
            StringBuilder map = new StringBuilder();
            int i = 0;
            for (String name : new java.util.TreeSet<>(c.tensors().keySet())) {
                String shard = i++ % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
                (shard.contains("00001-") ? a : b).put(name, c.tensors().get(name));
                map.append(map.length() == 0 ? "" : ", ").append('"').append(name).append("\": \"").append(shard).append('"');
            }
            dev.kiln.io.Safetensors.write(tmp.resolve("model-00001-of-00002.safetensors"), a);
            dev.kiln.io.Safetensors.write(tmp.resolve("model-00002-of-00002.safetensors"), b);
            String index = "{\"metadata\": {}, \"weight_map\": {" + map + "}}";
            java.nio.file.Files.writeString(tmp.resolve("model.safetensors.index.json"), index);
            float[] want, got;
            try (Decoder one = Decoder.huggingFace(dir, WeightFormat.F32); Decoder.Session s = one.newSession()) {
                want = s.step(new int[] {39, 493, 78});
            }
            try (Decoder sharded = Decoder.huggingFace(tmp, WeightFormat.F32); Decoder.Session s = sharded.newSession()) {
                got = s.step(new int[] {39, 493, 78});
            }
            assertArrayEquals(want, got, "sharded checkpoint");
            java.nio.file.Files.writeString(tmp.resolve("model.safetensors.index.json"), index.replaceFirst("model-00002-of-00002", "../model-00002-of-00002"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Decoder.huggingFace(tmp, WeightFormat.F32));
            assertTrue(e.getMessage().contains("not a file name in the model directory"), e.getMessage());
            String first = new java.util.TreeSet<>(a.keySet()).first();
            java.nio.file.Files.writeString(tmp.resolve("model.safetensors.index.json"),
                    index.replace("\"" + first + "\": \"model-00001-of-00002", "\"" + first + "\": \"model-00002-of-00002"));
            e = assertThrows(IllegalArgumentException.class, () -> Decoder.huggingFace(tmp, WeightFormat.F32));
            assertTrue(e.getMessage().contains("is not in model-00002-of-00002.safetensors"), e.getMessage());
        }
    }

    /**
     * TorchScript decoders (torch.jit.trace of the fixture modules, cache in and out as tensors, first step with an
     * empty past) give PyTorch's greedy ids for GPT-2 and Llama; a file whose forward does not fit the layer count is
     * one line.
     */
    @Test
    void torchScriptDecodersEqualPyTorch() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        for (String[] f : new String[][] {{"gpt2_tiny_trace.pt", "greedy.json"}, {"llama_tiny_trace.pt", "llama_greedy.json"}}) {
            try (TorchScriptDecoder d = TorchScriptDecoder.open(BpeTokenizerTest.DIR.resolve(f[0]))) {
                assertEquals(2, d.layers());
                TextGenerator g = new TextGenerator(d, tok);
                for (Map<String, Object> c : cases(f[1])) {
                    int[] prompt = ints(c.get("prompt_ids")), want = ints(c.get("new_ids"));
                    TextGenerator.Result r = greedy(g, prompt, want.length);
                    assertArrayEquals(want, r.ids(), f[0] + ": new ids after " + c.get("prompt"));
                }
            }
        }
        java.nio.file.Files.copy(BpeTokenizerTest.DIR.resolve("gpt2_tiny_trace.pt"), tmp.resolve("m.pt"));
        java.nio.file.Files.writeString(tmp.resolve("m_config.json"), "{\"n_layer\": 3, \"n_head\": 4, \"n_embd\": 64}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TorchScriptDecoder.open(tmp.resolve("m.pt")));
        assertTrue(e.getMessage().contains("a decoder with 3 layers takes"), e.getMessage());
        java.nio.file.Files.delete(tmp.resolve("m_config.json"));
        e = assertThrows(IllegalArgumentException.class, () -> TorchScriptDecoder.open(tmp.resolve("m.pt")));
        assertTrue(e.getMessage().contains("m_config.json or config.json"), e.getMessage());
    }

    /**
     * GGUF files of the tiny Llama (written by tools/make_decoder_fixtures.py --gguf with its own GGUF writer, q/k
     * rows permuted as llama.cpp's converter does): F32 gives PyTorch's greedy ids with the embedded tokenizer's
     * ids; Q8_0 and Q4_0 (their blocks used as they are, activations quantized to int8) give the last-position
     * logits of a float64 forward on their dequantized weights (llama_tiny_gguf_ref.json) at cosine >= 0.999.
     */
    @Test
    void ggufFilesRunLikeTheirSource() throws Exception {
        Path f32 = BpeTokenizerTest.DIR.resolve("llama_tiny_f32.gguf");
        BpeTokenizer tok;
        try (dev.kiln.io.Gguf g = dev.kiln.io.Gguf.open(f32)) {
            tok = BpeTokenizer.fromGguf(g);
        }
        try (Decoder d = Decoder.gguf(f32, WeightFormat.F32)) {
            TextGenerator g = new TextGenerator(d, tok);
            for (Map<String, Object> c : cases("llama_greedy.json")) {
                int[] prompt = ints(c.get("prompt_ids")), want = ints(c.get("new_ids"));
                assertArrayEquals(prompt, tok.encode((String) c.get("prompt")), "the GGUF's embedded tokenizer");
                TextGenerator.Result r = greedy(g, prompt, want.length);
                assertArrayEquals(want, r.ids(), "GGUF f32: new ids after " + c.get("prompt"));
            }
        }
        @SuppressWarnings("unchecked") Map<String, Object> ref = (Map<String, Object>) dev.kiln.io.Json.parse(
                java.nio.file.Files.readString(BpeTokenizerTest.DIR.resolve("llama_tiny_gguf_ref.json")), "ref");
        List<?> prompts = (List<?>) ref.get("prompt_ids");
        for (String type : new String[] {"q8_0", "q4_0"}) {
            try (Decoder d = Decoder.gguf(BpeTokenizerTest.DIR.resolve("llama_tiny_" + type + ".gguf"), WeightFormat.F32)) {
                for (int i = 0; i < prompts.size(); i++) {
                    float[] got;
                    try (Decoder.Session s = d.newSession()) {
                        got = s.step(ints(prompts.get(i)));
                    }
                    List<?> want = (List<?>) ((List<?>) ref.get(type)).get(i);
                    double dot = 0, nw = 0, ng = 0;
                    for (int j = 0; j < got.length; j++) {
                        double w = ((Number) want.get(j)).doubleValue();
                        dot += w * got[j];
                        nw += w * w;
                        ng += (double) got[j] * got[j];
                    }
                    double cos = dot / Math.sqrt(nw * ng);
                    assertTrue(cos >= 0.999, type + " prompt " + i + ": cosine " + cos + " to the dequantized reference");
                }
            }
        }
    }

    /** Quantized logits b against float logits a: cosine at least minCos and the same argmax (first index among equal maxima). */
    private static void assertCloseWithSameArgmax(float[] a, float[] b, double minCos, String what) {
        double dot = 0, na = 0, nb = 0;
        int ia = 0, ib = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
            if (a[i] > a[ia]) ia = i;
            if (b[i] > b[ib]) ib = i;
        }
        double cos = dot / Math.sqrt(na * nb);
        assertTrue(cos >= minCos, what + " vs f32 logits: cosine " + cos);
        assertEquals(ia, ib, what + ": argmax");
    }

    @Test
    void seededSamplingRepeatsAndStopsApply() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        try (OnnxDecoder d = decoder()) {
            TextGenerator g = new TextGenerator(d, tok);
            TextGenerator.Options o = new TextGenerator.Options(20, Set.of(), List.of());
            int[] a = g.generate("Hello", o, Sampler.sampling(0.9f, 40, 0.95f, 1.1f, 7), null, null).ids();
            int[] b = g.generate("Hello", o, Sampler.sampling(0.9f, 40, 0.95f, 1.1f, 7), null, null).ids();
            assertArrayEquals(a, b);
            // a stop token: the greedy continuation's third token
            int[] greedy = g.generate("Hello", o, Sampler.greedy(), null, null).ids();
            TextGenerator.Result s = g.generate("Hello", new TextGenerator.Options(20, Set.of(greedy[2]), List.of()), Sampler.greedy(), null, null);
            assertEquals("stop_token", s.stopReason());
            assertTrue(s.ids().length <= 3);
            // the listener can cancel; the context bounds the budget
            int[] count = {0};
            TextGenerator.Result c = g.generate("Hello", o, Sampler.greedy(), (id, text) -> ++count[0] < 4, null);
            assertEquals(4, c.ids().length);
            assertEquals("listener", c.stopReason());
            int[] longPrompt = new int[125];
            TextGenerator.Result ctx = g.generate(longPrompt, o, Sampler.greedy(), null, null);
            assertEquals(3, ctx.ids().length);
            assertEquals("context", ctx.stopReason());
        }
    }

    /** Sessions of one loaded decoder on four threads at once, each with its own prompt: every one gives PyTorch's ids. */
    @Test
    void concurrentSessionsShareOneModel() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        List<Map<String, Object>> cs = cases();
        try (OnnxDecoder d = decoder()) {
            TextGenerator g = new TextGenerator(d, tok);
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                List<java.util.concurrent.Future<int[]>> got = new ArrayList<>();
                for (int k = 0; k < 8; k++) {
                    Map<String, Object> c = cs.get(k % cs.size());
                    got.add(pool.submit(() -> g.generate(ints(c.get("prompt_ids")), new TextGenerator.Options(32, Set.of(), List.of()),
                            Sampler.greedy(), null, null).ids()));
                }
                for (int k = 0; k < got.size(); k++) assertArrayEquals(ints(cs.get(k % cs.size()).get("new_ids")), got.get(k).get(), "thread job " + k);
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /**
     * The cache is allocated once: the storages alive (counting any the GC's Cleaner freed as still
     * leaked, so other tests' garbage collected meanwhile cannot hide a leak or fake one) are the
     * same after the 10th and the 110th new token.
     */
    @Test
    void memoryStaysFlatWhileGenerating() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        try (OnnxDecoder d = decoder()) {
            TextGenerator g = new TextGenerator(d, tok);
            long[] at = new long[2];
            int[] count = {0};
            g.generate(new int[] {39, 493, 78, 11}, new TextGenerator.Options(110, Set.of(), List.of()), Sampler.sampling(1f, 0, 1f, 1f, 1), (id, text) -> {
                count[0]++;
                if (count[0] == 10) at[0] = dev.kiln.tensor.Storage.liveCountIgnoringCleaner();
                if (count[0] == 110) at[1] = dev.kiln.tensor.Storage.liveCountIgnoringCleaner();
                return true;
            }, null);
            assertEquals(110, count[0]);
            assertEquals(at[0], at[1], "storages leaked between the 10th and the 110th token");
        }
    }

    @Test
    void badInputIsOneClearLine() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        try (OnnxDecoder d = decoder()) {
            TextGenerator g = new TextGenerator(d, tok);
            TextGenerator.Options o = new TextGenerator.Options(4, Set.of(), List.of());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> g.generate(new int[200], o, Sampler.greedy(), null, null));
            assertTrue(e.getMessage().contains("context holds 128"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> g.generate(new int[] {1, tok.vocabSize()}, o, Sampler.greedy(), null, null));
            assertTrue(e.getMessage().contains("outside the vocabulary"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OnnxDecoder.open(java.nio.file.Path.of("testdata/real-models/bert_op17.onnx"), OnnxExecutor.Precision.F32, 0));
        assertTrue(e.getMessage().contains("input_ids") || e.getMessage().contains("cache"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }
}
