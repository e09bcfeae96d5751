package dev.kiln.generate;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.kiln.io.Json;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Kiln's byte-level BPE against Hugging Face tokenizers (the Rust library through DJL) on the
 * decoder fixture's tokenizer (testdata/decoder, trained by tools/make_decoder_fixtures.py): the
 * fixture's own cases, a few thousand lines of English text, and seeded random strings over
 * ASCII, Latin, CJK, emoji, combining marks and whitespace; plus exact round trips.
 */
class BpeTokenizerTest {
    static final Path DIR = Path.of("testdata/decoder");

    static BpeTokenizer kiln() throws Exception { return BpeTokenizer.fromTokenizerJson(DIR.resolve("tokenizer.json")); }

    @SuppressWarnings("unchecked")
    @Test
    void fixtureCasesAndBothFileFormats() throws Exception {
        BpeTokenizer t = kiln(), classic = BpeTokenizer.fromVocabAndMerges(DIR.resolve("vocab.json"), DIR.resolve("merges.txt"));
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(DIR.resolve("tokenizer_cases.json")), "cases");
        List<Object> cases = (List<Object>) root.get("cases");
        assertTrue(cases.size() >= 30, "cases: " + cases.size());
        for (Object o : cases) {
            Map<String, Object> c = (Map<String, Object>) o;
            String text = (String) c.get("text");
            int[] want = ((List<Object>) c.get("ids")).stream().mapToInt(v -> (int) (long) (Long) v).toArray();
            assertArrayEquals(want, t.encode(text), "tokenizer.json: " + text);
            assertArrayEquals(want, classic.encode(text), "vocab.json + merges.txt: " + text);
            assertEquals(text, t.decode(t.encode(text)), "round trip");
        }
    }

    @Test
    void sameIdsAsHuggingFaceTokenizers() throws Exception {
        BpeTokenizer t = kiln();
        List<String> texts = new ArrayList<>();
        Path fortunes = Path.of("/usr/share/games/fortunes");
        if (Files.isDirectory(fortunes)) {
            try (Stream<Path> files = Files.list(fortunes)) {
                for (Path f : files.filter(Files::isRegularFile).sorted().limit(6).toList()) {
                    for (String line : new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1).split("\n"))
                        if (texts.size() < 2000) texts.add(line);
                }
            }
        }
        SplittableRandom r = new SplittableRandom(20);
        String[] pieces = {"a", "Z", "9", " ", "  ", "\n", "\t", "'s", "'ll", "é", "ß", "ñ", "漢", "字", "😀", "👍🏽", "e\u0301", "!", "?!", "--",
                "<|endoftext|>", "\u00a0", "\u3000", "3.14", "don't", "http://x.y/z", "ﬁ", "\r\n", "…", "Ω"};
        for (int i = 0; i < 2000; i++) {
            StringBuilder sb = new StringBuilder();
            for (int k = r.nextInt(1, 12); k > 0; k--) sb.append(pieces[r.nextInt(pieces.length)]);
            texts.add(sb.toString());
        }
        int checked = 0;
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder().optTokenizerPath(DIR.resolve("tokenizer.json"))
                .optAddSpecialTokens(false).build()) {
            for (String s : texts) {
                Encoding e = hf.encode(s, false, false);
                long[] ids = e.getIds();
                int[] want = new int[ids.length];
                for (int i = 0; i < ids.length; i++) want[i] = (int) ids[i];
                assertArrayEquals(want, t.encode(s), () -> "'" + s + "'");
                assertEquals(s, t.decode(t.encode(s)), "round trip of '" + s + "'");
                checked++;
            }
        }
        assertTrue(checked >= 2000, "checked " + checked);
    }

    @Test
    void streamingHoldsSplitCharactersBack() throws Exception {
        BpeTokenizer t = kiln();
        String s = "naïve 漢字 😀 done";
        BpeTokenizer.StreamDecoder d = t.streamDecoder();
        StringBuilder got = new StringBuilder();
        for (int id : t.encode(s)) {
            String piece = d.push(id);
            assertTrue(!piece.contains("\uFFFD"), "a partial character leaked: " + piece);
            got.append(piece);
        }
        got.append(d.flush());
        assertEquals(s, got.toString());
    }

    @Test
    void badFilesAndIdsAreOneLineErrors() throws Exception {
        BpeTokenizer t = kiln();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {t.vocabSize()}));
        assertTrue(e.getMessage().contains("not in the vocabulary"), e.getMessage());
        Path bad = Files.createTempFile("tok", ".json");
        try {
            Files.writeString(bad, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
            e = assertThrows(IllegalArgumentException.class, () -> BpeTokenizer.fromTokenizerJson(bad));
            assertTrue(e.getMessage().contains("Unigram") && e.getMessage().contains(bad.toString()), e.getMessage());
            Files.writeString(bad, "{not json");
            e = assertThrows(IllegalArgumentException.class, () -> BpeTokenizer.fromTokenizerJson(bad));
            assertEquals(1, e.getMessage().lines().count());
        } finally {
            Files.delete(bad);
        }
    }
}
