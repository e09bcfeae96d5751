package dev.kiln.generate;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.kiln.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SentencePiece-style BPE as Llama 2's tokenizer.json describes it (Prepend + Replace normalizer
 * with U+2581, character merges, byte fallback to {@code <0xXX>}, fused unk) against Hugging Face
 * tokenizers (DJL) on a tokenizer built here: the same ids on 1500 seeded strings, and the same text
 * back from those ids.
 */
class SentencePieceBpeTest {
    @TempDir Path tmp;

    /** A small Llama-2-style tokenizer.json: specials, 256 byte tokens, some characters (not all), merges built from a text. */
    private Path tokenizer() throws Exception {
        Map<String, Long> vocab = new LinkedHashMap<>();
        for (String s : new String[] {"<unk>", "<s>", "</s>"}) vocab.put(s, (long) vocab.size());
        for (int b = 0; b < 256; b++) vocab.put(String.format("<0x%02X>", b), (long) vocab.size());
        String chars = "\u2581abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-\u00e9\u6f22";
        chars.codePoints().forEach(cp -> vocab.putIfAbsent(new String(Character.toChars(cp)), (long) vocab.size()));
        // merges: repeatedly the most frequent adjacent pair of a small corpus (deterministic)
        String corpus = "\u2581the\u2581quick\u2581brown\u2581fox\u2581jumps\u2581over\u2581the\u2581lazy\u2581dog\u2581and\u2581then\u2581the\u2581other"
                + "\u2581one\u2581in\u2581the\u2581end\u2581there\u2581is\u2581nothing\u2581else\u2581to\u2581say\u2581about\u2581it";
        List<String> sym = new ArrayList<>();
        corpus.codePoints().forEach(cp -> sym.add(new String(Character.toChars(cp))));
        List<String> merges = new ArrayList<>();
        for (int m = 0; m < 40; m++) {
            Map<String, Integer> count = new LinkedHashMap<>();
            for (int i = 0; i + 1 < sym.size(); i++) count.merge(sym.get(i) + " " + sym.get(i + 1), 1, Integer::sum);
            String best = null;
            for (var e : count.entrySet())
                if (best == null || e.getValue() > count.get(best) || (e.getValue().equals(count.get(best)) && e.getKey().compareTo(best) < 0)) best = e.getKey();
            if (best == null || count.get(best) < 2) break;
            merges.add(best);
            String[] ab = best.split(" ");
            vocab.putIfAbsent(ab[0] + ab[1], (long) vocab.size());
            for (int i = 0; i + 1 < sym.size(); i++)
                if (sym.get(i).equals(ab[0]) && sym.get(i + 1).equals(ab[1])) {
                    sym.set(i, ab[0] + ab[1]);
                    sym.remove(i + 1);
                }
        }
        StringBuilder v = new StringBuilder("{");
        for (var e : vocab.entrySet()) v.append(v.length() == 1 ? "" : ",").append(Json.quote(e.getKey())).append(':').append(e.getValue());
        v.append('}');
        StringBuilder mj = new StringBuilder("[");
        for (String m : merges) mj.append(mj.length() == 1 ? "" : ",").append(Json.quote(m));
        mj.append(']');
        String json = """
                {"version":"1.0","truncation":null,"padding":null,
                 "added_tokens":[{"id":0,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                                 {"id":1,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                                 {"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
                 "normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"\\u2581"},{"type":"Replace","pattern":{"String":" "},"content":"\\u2581"}]},
                 "pre_tokenizer":null,"post_processor":null,
                 "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"\\u2581"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
                 "model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,"end_of_word_suffix":null,
                          "fuse_unk":true,"byte_fallback":true,"vocab":VOCAB,"merges":MERGES}}
                """.replace("VOCAB", v).replace("MERGES", mj);
        return Files.writeString(tmp.resolve("tokenizer.json"), json);
    }

    @Test
    void sameIdsAndTextAsHuggingFaceTokenizers() throws Exception {
        Path file = tokenizer();
        BpeTokenizer t = BpeTokenizer.fromTokenizerJson(file);
        String[] pieces = {"the", " ", "  ", "quick", "fox", "Over", "42", "é", "漢", "字", "😀", "ß", "\n", "\t", ",", "!", "nothing", "x", "<s>", "e\u0301"};
        SplittableRandom r = new SplittableRandom(22);
        List<String> texts = new ArrayList<>(List.of("the quick brown fox", " leading space", "trailing ", "Hello, world!", "漢字 and 😀"));
        for (int i = 0; i < 1500; i++) {
            StringBuilder sb = new StringBuilder();
            for (int k = r.nextInt(1, 10); k > 0; k--) sb.append(pieces[r.nextInt(pieces.length)]);
            texts.add(sb.toString());
        }
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder().optTokenizerPath(file).optAddSpecialTokens(false).build()) {
            for (String s : texts) {
                long[] hid = hf.encode(s, false, false).getIds();
                int[] want = new int[hid.length];
                for (int i = 0; i < hid.length; i++) want[i] = (int) hid[i];
                int[] got = t.encode(s);
                assertArrayEquals(want, got, () -> "'" + s + "'");
                assertEquals(hf.decode(hid, false), t.decode(got), "decode of '" + s + "'");
            }
        }
        // a character the vocabulary lacks goes out as its UTF-8 bytes and comes back whole
        int[] ids = t.encode("😀");
        assertTrue(ids.length >= 4, java.util.Arrays.toString(ids));
        assertEquals("😀", t.decode(ids));
    }
}
