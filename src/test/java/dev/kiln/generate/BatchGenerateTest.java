package dev.kiln.generate;

import dev.kiln.onnx.OnnxExecutor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batched decoding: {@link Decoder#stepAll} gives each sequence the logits its own step gives (to
 * float rounding) on the native GPT-2 and Llama (one batched pass; Llama's rotary positions per
 * row) and the ONNX decoder (the default, one by one), for prompts of different lengths, float and
 * quantized weights; {@link TextGenerator#generateBatch}
 * gives each prompt PyTorch's greedy ids, stops each sequence on its own, and refuses bad batches
 * in one line.
 */
class BatchGenerateTest {
    private static final int[][] PROMPTS = {{39, 493, 17}, {5}, {101, 7, 7, 64, 3, 250}};

    @Test
    void stepAllMatchesEachSessionsOwnSteps() throws Exception {
        for (WeightFormat fmt : new WeightFormat[]{WeightFormat.F32, WeightFormat.INT8}) {
            try (Gpt2Decoder d = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"), fmt)) {
                compareBatchedWithAlone(d, fmt.toString());
            }
        }
        for (WeightFormat fmt : new WeightFormat[]{WeightFormat.F32, WeightFormat.INT4}) {
            try (LlamaDecoder d = LlamaDecoder.load(BpeTokenizerTest.DIR.resolve("llama_tiny_hf"), fmt)) {
                compareBatchedWithAlone(d, "llama " + fmt);
            }
        }
        try (OnnxDecoder d = GeneratorTest.decoder()) {
            compareBatchedWithAlone(d, "onnx");
        }
    }

    private static void compareBatchedWithAlone(Decoder d, String what) {
        List<Decoder.Session> batch = new ArrayList<>(), alone = new ArrayList<>();
        try {
            for (int[] p : PROMPTS) {
                Decoder.Session a = d.newSession(), b = d.newSession();
                batch.add(a);
                alone.add(b);
                assertArrayEquals(b.step(p), a.step(p), 0f, what + ": the same prefill");
            }
            for (int t = 0; t < 6; t++) {
                int[] ids = {(7 * t + 3) % 256, (11 * t + 1) % 256, (13 * t + 5) % 256};
                float[][] got = d.stepAll(batch, ids);
                for (int i = 0; i < ids.length; i++) {
                    float[] want = alone.get(i).step(new int[] {ids[i]});
                    double scale = 0;
                    for (float v : want) scale = Math.max(scale, Math.abs(v));
                    for (int j = 0; j < want.length; j++)
                        assertEquals(want[j], got[i][j], 1e-5 * Math.max(1, scale), what + " step " + t + " sequence " + i + " logit " + j);
                    assertEquals(alone.get(i).length(), batch.get(i).length());
                }
            }
        } finally {
            batch.forEach(Decoder.Session::close);
            alone.forEach(Decoder.Session::close);
        }
    }

    @Test
    void batchGivesEachPromptPyTorchsGreedyIdsAndStopsEachOnItsOwn() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        List<Map<String, Object>> cs = GeneratorTest.cases();
        try (Gpt2Decoder d = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"))) {
            TextGenerator g = new TextGenerator(d, tok);
            List<int[]> prompts = new ArrayList<>();
            List<int[]> want = new ArrayList<>();
            List<Sampler> greedy = new ArrayList<>();
            int n = Integer.MAX_VALUE;
            for (Map<String, Object> c : cs) {
                prompts.add(GeneratorTest.ints(c.get("prompt_ids")));
                want.add(GeneratorTest.ints(c.get("new_ids")));
                greedy.add(Sampler.greedy());
                n = Math.min(n, want.getLast().length);
            }
            List<int[]> seenBy = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) seenBy.add(new int[1]);
            var rs = g.generateBatch(prompts, new TextGenerator.Options(n, Set.of(), List.of()), greedy,
                    (seq, id, text) -> { seenBy.get(seq)[0]++; return true; }, null);
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(java.util.Arrays.copyOf(want.get(i), n), rs.get(i).ids(), "sequence " + i);
                assertEquals("max_new_tokens", rs.get(i).stopReason());
                assertEquals(n, seenBy.get(i)[0], "the listener saw every token of sequence " + i);
            }
            // a stop id that only the first sequence produces stops that one alone, the others run on
            int at = -1;
            for (int k = 0; k < n && at < 0; k++) {
                boolean elsewhere = false;
                for (int i = 1; i < want.size(); i++) for (int j = 0; j < n; j++) elsewhere |= want.get(i)[j] == want.get(0)[k];
                boolean earlier = false;
                for (int j = 0; j < k; j++) earlier |= want.get(0)[j] == want.get(0)[k];
                if (!elsewhere && !earlier) at = k;
            }
            assertTrue(at >= 0 && at < n - 1, "the fixture has a token only the first sequence produces");
            var st = g.generateBatch(prompts, new TextGenerator.Options(n, Set.of(want.get(0)[at]), List.of()), greedy, null, null);
            assertEquals("stop_token", st.get(0).stopReason());
            assertEquals(at + 1, st.get(0).ids().length);
            for (int i = 1; i < prompts.size(); i++) assertArrayEquals(rs.get(i).ids(), st.get(i).ids(), "sequence " + i + " runs on");
        }
    }

    @Test
    void badBatchesAreOneLine() throws Exception {
        BpeTokenizer tok = BpeTokenizerTest.kiln();
        try (Gpt2Decoder d = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"));
             Gpt2Decoder other = Gpt2Decoder.load(BpeTokenizerTest.DIR.resolve("gpt2_tiny_hf"))) {
            TextGenerator g = new TextGenerator(d, tok);
            var opts = new TextGenerator.Options(4, Set.of(), List.of());
            assertThrows(IllegalArgumentException.class, () -> g.generateBatch(List.of(), opts, List.of(), null, null));
            assertThrows(IllegalArgumentException.class, () -> g.generateBatch(List.of(new int[]{1}, new int[]{2}), opts, List.of(Sampler.greedy()), null, null));
            var e = assertThrows(IllegalArgumentException.class, () -> g.generateBatch(List.of(new int[]{1}, new int[0]), opts,
                    List.of(Sampler.greedy(), Sampler.greedy()), null, null));
            assertTrue(e.getMessage().contains("prompt 1"), e.getMessage());
            try (Decoder.Session a = d.newSession(); Decoder.Session b = other.newSession()) {
                a.step(new int[]{1});
                b.step(new int[]{1});
                assertThrows(IllegalArgumentException.class, () -> d.stepAll(List.of(a, b), new int[]{2, 3}), "a session of another decoder");
                assertThrows(IllegalArgumentException.class, () -> d.stepAll(List.of(a, a), new int[]{2, 3}), "the same session twice");
                assertThrows(IllegalArgumentException.class, () -> d.stepAll(List.of(a), new int[]{2, 3}), "sizes differ");
                assertEquals(1, a.length(), "a refused step changes nothing");
            }
        }
    }
}
