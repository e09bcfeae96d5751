package dev.kiln.generate;

import dev.kiln.io.Json;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte-level BPE, as GPT-2, GPT-J, RoBERTa and Llama 3 tokenize (and SentencePiece-style BPE as
 * Llama 2 and Mistral's tokenizer.json describe it: see the private constructor): text is split into pre-tokens by a
 * regex, each pre-token's UTF-8 bytes become printable symbols (GPT-2's byte-to-unicode map), and
 * merges are applied lowest rank first until none applies. Added (special) tokens are matched in
 * the text before anything else. Reads Hugging Face {@code tokenizer.json} (model type BPE with a
 * ByteLevel pre-tokenizer, optionally after a Split with its own regex, as Llama 3 writes it) or
 * GPT-2's {@code vocab.json} + {@code merges.txt}.
 * <p>
 * Encoding then decoding gives back the exact text, for any string (every byte has a symbol).
 * Instances are immutable and thread-safe (the per-word cache is concurrent).
 */
public final class BpeTokenizer {
    /** GPT-2's pre-tokenizer (also the ByteLevel pre-tokenizer's default with use_regex). */
    static final String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    private static final int MAX_CACHED_WORDS = 1 << 16;

    private final Map<String, Integer> vocab;
    private final String[] tokens;
    private final Map<String, Integer> ranks;             // "left right" -> merge rank
    private final Pattern pretokenizer;
    private final Map<String, Integer> added;             // special/added token text -> id
    private final Pattern addedPattern;                    // alternation of the added tokens, longest first; null if none
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();
    private final boolean sentencePiece;
    private final int unk;
    private final byte[][] bytesOf;                       // per id: its bytes (added tokens: their text)
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private BpeTokenizer(Map<String, Integer> vocab, List<String[]> merges, String pattern, Map<String, Integer> added, String source) {
        this(vocab, merges, pattern, added, source, false, -1);
    }

    /**
     * sentencePiece: SentencePiece-style BPE (Llama 2, Mistral): no pre-tokenizer, spaces as U+2581 with
     * one prepended per text segment, merges over characters, characters outside the vocabulary as
     * their UTF-8 bytes ({@code <0xXX>} tokens) or unk.
     */
    private BpeTokenizer(Map<String, Integer> vocab, List<String[]> merges, String pattern, Map<String, Integer> added, String source,
                         boolean sentencePiece, int unk) {
        this.sentencePiece = sentencePiece;
        this.unk = unk;
        this.vocab = vocab;
        int max = -1;
        for (int id : vocab.values()) max = Math.max(max, id);
        for (int id : added.values()) max = Math.max(max, id);
        this.tokens = new String[max + 1];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            if (e.getValue() < 0) throw new IllegalArgumentException(source + ": negative token id " + e.getValue());
            tokens[e.getValue()] = e.getKey();
        }
        this.bytesOf = new byte[tokens.length][];
        for (int id = 0; id < tokens.length; id++) if (tokens[id] != null) bytesOf[id] = sentencePiece ? pieceBytes(tokens[id]) : symbolBytes(tokens[id]);
        for (Map.Entry<String, Integer> e : added.entrySet()) bytesOf[e.getValue()] = e.getKey().getBytes(StandardCharsets.UTF_8);
        this.ranks = new HashMap<>();
        for (int i = 0; i < merges.size(); i++) ranks.putIfAbsent(merges.get(i)[0] + " " + merges.get(i)[1], i);
        this.pretokenizer = pattern == null ? null : Pattern.compile(pattern, Pattern.UNICODE_CHARACTER_CLASS);
        this.added = added;
        if (added.isEmpty()) this.addedPattern = null;
        else {
            List<String> sorted = new ArrayList<>(added.keySet());
            sorted.sort(Comparator.comparingInt(String::length).reversed());
            StringBuilder sb = new StringBuilder();
            for (String t : sorted) sb.append(sb.isEmpty() ? "" : "|").append(Pattern.quote(t));
            this.addedPattern = Pattern.compile(sb.toString());
        }
        for (int b = 0; b < 256 && !sentencePiece; b++)
            if (!vocab.containsKey(String.valueOf(BYTE_TO_CHAR[b])))
                throw new IllegalArgumentException(source + ": not a byte-level BPE vocabulary (no token for byte " + b + ")");
    }

    private static final char SPACE = '\u2581';

    /** A SentencePiece token's bytes: U+2581 as a space, {@code <0xXX>} as that byte. */
    private static byte[] pieceBytes(String t) {
        if (t.length() == 6 && t.startsWith("<0x") && t.endsWith(">")) {
            try {
                return new byte[] {(byte) Integer.parseInt(t.substring(3, 5), 16)};
            } catch (NumberFormatException e) {
                // an ordinary token that looks like one
            }
        }
        return t.replace(SPACE, ' ').getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A tokenizer file (tokenizer.json), or a directory holding tokenizer.json or vocab.json +
     * merges.txt; otherwise a one-line error naming the path.
     */
    public static BpeTokenizer fromPath(Path p) throws IOException {
        if (Files.isRegularFile(p)) return fromTokenizerJson(p);
        if (Files.isRegularFile(p.resolve("tokenizer.json"))) return fromTokenizerJson(p.resolve("tokenizer.json"));
        if (Files.isRegularFile(p.resolve("vocab.json")) && Files.isRegularFile(p.resolve("merges.txt")))
            return fromVocabAndMerges(p.resolve("vocab.json"), p.resolve("merges.txt"));
        throw new IllegalArgumentException((Files.isDirectory(p) ? p + " holds no tokenizer.json (nor vocab.json + merges.txt)" : p + " does not exist")
                + "; give --tokenizer PATH");
    }

    /** Reads a Hugging Face {@code tokenizer.json}. */
    public static BpeTokenizer fromTokenizerJson(Path file) throws IOException {
        String src = file.toString();
        Object root = Json.parse(Files.readString(file, StandardCharsets.UTF_8), src);
        Map<String, Object> top = map(root, src, "the top level");
        Map<String, Object> model = map(top.get("model"), src, "\"model\"");
        if (!"BPE".equals(model.get("type")))
            throw new IllegalArgumentException(src + ": model type " + model.get("type") + " is not supported (byte-level BPE only)");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : map(model.get("vocab"), src, "model.vocab").entrySet()) vocab.put(e.getKey(), id(e.getValue(), src));
        List<String[]> merges = new ArrayList<>();
        if (!(model.get("merges") instanceof List<?> ms)) throw new IllegalArgumentException(src + ": model.merges is not a list");
        for (Object m : ms) {
            if (m instanceof String s) {
                int sp = s.indexOf(' ');
                if (sp <= 0 || sp == s.length() - 1) throw new IllegalArgumentException(src + ": bad merge \"" + s + "\"");
                merges.add(new String[] {s.substring(0, sp), s.substring(sp + 1)});
            } else if (m instanceof List<?> pair && pair.size() == 2 && pair.get(0) instanceof String a && pair.get(1) instanceof String b) {
                merges.add(new String[] {a, b});
            } else throw new IllegalArgumentException(src + ": bad merge " + m);
        }
        Map<String, Integer> added = new LinkedHashMap<>();
        if (top.get("added_tokens") instanceof List<?> at)
            for (Object o : at) {
                Map<String, Object> t = map(o, src, "added_tokens[]");
                if (t.get("content") instanceof String c && !c.isEmpty()) added.put(c, id(t.get("id"), src));
            }
        if (sentencePieceStyle(top, model)) {
            int unk = model.get("unk_token") instanceof String u && vocab.containsKey(u) ? vocab.get(u) : -1;
            if (!Boolean.TRUE.equals(model.get("byte_fallback")) && unk < 0)
                throw new IllegalArgumentException(src + ": SentencePiece-style BPE without byte_fallback needs an unk_token in the vocabulary");
            return new BpeTokenizer(vocab, merges, null, added, src, true, unk);
        }
        return new BpeTokenizer(vocab, merges, pattern(top.get("pre_tokenizer"), src), added, src);
    }

    /**
     * Whether a tokenizer.json is SentencePiece-style BPE as Llama 2 writes it: a normalizer that
     * prepends U+2581 and replaces spaces by it (or a Metaspace pre-tokenizer that does the same
     * without splitting), and no ByteLevel pre-tokenizer.
     */
    private static boolean sentencePieceStyle(Map<String, Object> top, Map<String, Object> model) {
        String json = String.valueOf(top.get("normalizer")) + " " + top.get("pre_tokenizer");
        boolean metaspace = json.contains("Metaspace") || (json.contains("Prepend") && json.contains("\u2581"));
        return metaspace && !json.contains("ByteLevel");
    }

    /**
     * A byte-level BPE from a token list in id order and "left right" merges in rank order (a GGUF
     * file's tokenizer.ggml.tokens / merges with model "gpt2"); the ids in special are added tokens
     * (matched in text first, e.g. {@code <|endoftext|>}).
     */
    public static BpeTokenizer fromTokens(List<String> tokens, List<String> merges, java.util.Set<Integer> special, String source) {
        Map<String, Integer> vocab = new LinkedHashMap<>(), added = new LinkedHashMap<>();
        for (int i = 0; i < tokens.size(); i++) {
            if (special.contains(i)) added.put(tokens.get(i), i);
            else vocab.putIfAbsent(tokens.get(i), i);
        }
        List<String[]> pairs = new ArrayList<>();
        for (String m : merges) {
            int sp = m.indexOf(' ');
            if (sp <= 0 || sp == m.length() - 1) throw new IllegalArgumentException(source + ": bad merge \"" + dev.kiln.io.Gguf.printable(m) + "\"");
            pairs.add(new String[] {m.substring(0, sp), m.substring(sp + 1)});
        }
        return new BpeTokenizer(vocab, pairs, GPT2_PATTERN, added, source);
    }

    /**
     * The tokenizer embedded in a GGUF file: tokenizer.ggml.model "gpt2" (byte-level BPE: tokens in id
     * order, merges in rank order; control tokens (token_type 3) are added tokens). Other models
     * (SentencePiece "llama") are a one-line error.
     */
    public static BpeTokenizer fromGguf(dev.kiln.io.Gguf g) {
        Map<String, Object> m = g.metadata();
        String src = g.file().toString();
        Object model = m.get("tokenizer.ggml.model");
        if (!"gpt2".equals(model))
            throw new IllegalArgumentException(src + ": tokenizer.ggml.model " + dev.kiln.io.Gguf.printable(model) + " is not supported (gpt2 byte-level BPE only); give --tokenizer PATH");
        if (!(m.get("tokenizer.ggml.tokens") instanceof List<?> toks) || !(m.get("tokenizer.ggml.merges") instanceof List<?> merges))
            throw new IllegalArgumentException(src + ": no tokenizer.ggml.tokens / tokenizer.ggml.merges arrays");
        List<String> tokens = new ArrayList<>(), ms = new ArrayList<>();
        for (Object t : toks) tokens.add(String.valueOf(t));
        for (Object t : merges) ms.add(String.valueOf(t));
        java.util.Set<Integer> special = new java.util.HashSet<>();
        if (m.get("tokenizer.ggml.token_type") instanceof List<?> types)
            for (int i = 0; i < types.size() && i < tokens.size(); i++) if (types.get(i) instanceof Long t && t == 3) special.add(i);
        return fromTokens(tokens, ms, special, src);
    }

    /** Id of {@code <|endoftext|>} in the byte-level vocabulary of {@link #writeByteLevel}: 256 (after the 256 bytes). */
    public static final int BYTE_LEVEL_EOS = 256;

    /**
     * Writes GPT-2's {@code vocab.json} and {@code merges.txt} for a byte-level model without merges:
     * token id b is byte b (as GPT-2's printable symbol), {@link #BYTE_LEVEL_EOS} is
     * {@code <|endoftext|>}. Text encodes to its UTF-8 bytes, so a model trained on raw bytes reads
     * and writes through it ({@code kiln train --model gpt}, then {@code kiln generate}).
     */
    public static void writeByteLevel(Path dir) throws IOException {
        StringBuilder v = new StringBuilder("{");
        for (int b = 0; b < 256; b++) v.append(b == 0 ? "" : ", ").append(Json.quote(String.valueOf(BYTE_TO_CHAR[b]))).append(": ").append(b);
        v.append(", ").append(Json.quote("<|endoftext|>")).append(": ").append(BYTE_LEVEL_EOS).append("}\n");
        dev.kiln.io.AtomicWrite.writeString(dir.resolve("vocab.json"), v.toString());
        dev.kiln.io.AtomicWrite.writeString(dir.resolve("merges.txt"), "#version: 0.2\n");
    }

    /** Reads GPT-2's {@code vocab.json} and {@code merges.txt}; {@code <|endoftext|>} is special when in the vocabulary. */
    public static BpeTokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt) throws IOException {
        String src = vocabJson.toString();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : map(Json.parse(Files.readString(vocabJson, StandardCharsets.UTF_8), src), src, "the vocabulary").entrySet())
            vocab.put(e.getKey(), id(e.getValue(), src));
        List<String[]> merges = new ArrayList<>();
        for (String line : Files.readAllLines(mergesTxt, StandardCharsets.UTF_8)) {
            if (line.startsWith("#version") || line.isBlank()) continue;
            int sp = line.indexOf(' ');
            if (sp <= 0) throw new IllegalArgumentException(mergesTxt + ": bad merge line \"" + line + "\"");
            merges.add(new String[] {line.substring(0, sp), line.substring(sp + 1)});
        }
        Map<String, Integer> added = new LinkedHashMap<>();
        if (vocab.containsKey("<|endoftext|>")) added.put("<|endoftext|>", vocab.get("<|endoftext|>"));
        return new BpeTokenizer(vocab, merges, GPT2_PATTERN, added, src);
    }

    /** The regex of a ByteLevel pre-tokenizer, or of a Split before one (Llama 3). */
    private static String pattern(Object pre, String src) {
        if (pre == null) return GPT2_PATTERN;
        Map<String, Object> p = map(pre, src, "pre_tokenizer");
        switch (String.valueOf(p.get("type"))) {
            case "ByteLevel" -> { return GPT2_PATTERN; }
            case "Sequence" -> {
                String regex = null;
                boolean byteLevel = false;
                if (p.get("pretokenizers") instanceof List<?> l)
                    for (Object o : l) {
                        Map<String, Object> q = map(o, src, "pre_tokenizer.pretokenizers[]");
                        if ("Split".equals(q.get("type")) && q.get("pattern") instanceof Map<?, ?> pat && pat.get("Regex") instanceof String r) regex = r;
                        else if ("ByteLevel".equals(q.get("type"))) {
                            byteLevel = true;
                            if (regex == null && !Boolean.FALSE.equals(q.get("use_regex"))) regex = GPT2_PATTERN;
                        }
                    }
                if (byteLevel && regex != null) return regex;
            }
            default -> { }
        }
        throw new IllegalArgumentException(src + ": pre_tokenizer " + p.get("type") + " is not supported (ByteLevel, or Split + ByteLevel)");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o, String src, String what) {
        if (o instanceof Map<?, ?> m) return (Map<String, Object>) m;
        throw new IllegalArgumentException(src + ": " + what + " is not an object");
    }

    private static int id(Object o, String src) {
        if (o instanceof Long l && l >= 0 && l <= Integer.MAX_VALUE) return (int) (long) l;
        throw new IllegalArgumentException(src + ": bad token id " + o);
    }

    /** Number of ids (the largest id + 1). */
    public int vocabSize() { return tokens.length; }

    /** The id of an added/special token, or -1. */
    public int specialId(String text) { return added.getOrDefault(text, -1); }

    /** The bytes of one token (added tokens: their text; byte symbols: their bytes, possibly partial UTF-8). */
    public byte[] tokenBytes(int id) {
        if (id < 0 || id >= bytesOf.length || bytesOf[id] == null)
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (0.." + (bytesOf.length - 1) + ")");
        return bytesOf[id];
    }

    private static byte[] symbolBytes(String t) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(t.length());
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b < 0) out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));   // not a byte symbol: the char itself
            else out.write(b);
        }
        return out.toByteArray();
    }

    /** The ids of text; added tokens written in the text are recognised. */
    public int[] encode(String text) {
        List<Integer> out = new ArrayList<>();
        int at = 0;
        if (addedPattern != null) {
            Matcher m = addedPattern.matcher(text);
            while (m.find()) {
                encodePlain(text.substring(at, m.start()), out);
                out.add(added.get(m.group()));
                at = m.end();
            }
        }
        encodePlain(text.substring(at), out);
        int[] r = new int[out.size()];
        for (int i = 0; i < r.length; i++) r[i] = out.get(i);
        return r;
    }

    private void encodePlain(String text, List<Integer> out) {
        if (text.isEmpty()) return;
        if (sentencePiece) {
            String w = SPACE + text.replace(' ', SPACE);
            for (int id : pieces(w)) out.add(id);
            return;
        }
        Matcher m = pretokenizer.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) word(text.substring(last, m.start()), out);   // text the regex skipped (none for GPT-2's)
            if (m.end() > m.start()) word(m.group(), out);
            last = m.end();
        }
        if (last < text.length()) word(text.substring(last), out);
    }

    private void word(String w, List<Integer> out) {
        int[] ids = cache.get(w);
        if (ids == null) {
            ids = bpe(w);
            if (cache.size() < MAX_CACHED_WORDS) cache.put(w, ids);
        }
        for (int id : ids) out.add(id);
    }

    /** SentencePiece-style: the characters of w merged lowest rank first; characters outside the vocabulary as byte tokens or unk. */
    private int[] pieces(String w) {
        List<String> sym = new ArrayList<>();
        for (int i = 0; i < w.length(); ) {
            int cp = w.codePointAt(i);
            String c = new String(Character.toChars(cp));
            i += Character.charCount(cp);
            if (vocab.containsKey(c)) sym.add(c);
            else {
                boolean bytes = true;
                List<String> bt = new ArrayList<>();
                for (byte b : c.getBytes(StandardCharsets.UTF_8)) {
                    String t = String.format("<0x%02X>", b & 0xff);
                    if (!vocab.containsKey(t)) bytes = false;
                    bt.add(t);
                }
                if (bytes) sym.addAll(bt);
                else sym.add(null);                                   // unk
            }
        }
        sym = merge(sym);
        List<Integer> ids = new ArrayList<>();
        for (String t : sym) {
            if (t == null) {
                if (unk < 0) throw new IllegalArgumentException("a character has no token and the tokenizer has no unk_token");
                if (!ids.isEmpty() && ids.get(ids.size() - 1) == unk) continue;   // fuse_unk: a run of unknowns is one unk
                ids.add(unk);
            } else ids.add(vocab.get(t));
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Applies the merges to a symbol list, the lowest-ranked pair (leftmost on ties) first; null symbols never merge. */
    private List<String> merge(List<String> sym) {
        while (sym.size() > 1) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < sym.size(); i++) {
                if (sym.get(i) == null || sym.get(i + 1) == null) continue;
                Integer r = ranks.get(sym.get(i) + " " + sym.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    best = i;
                }
            }
            if (best < 0) break;
            String a = sym.get(best), b = sym.get(best + 1);
            List<String> next = new ArrayList<>(sym.size());
            for (int i = 0; i < sym.size(); i++) {
                if (i + 1 < sym.size() && a.equals(sym.get(i)) && b.equals(sym.get(i + 1))) {
                    next.add(a + b);
                    i++;
                } else next.add(sym.get(i));
            }
            sym = next;
        }
        return sym;
    }

    /** Merges a pre-token's byte symbols, lowest-ranked pair first. */
    private int[] bpe(String w) {
        byte[] bytes = w.getBytes(StandardCharsets.UTF_8);
        List<String> sym = new ArrayList<>(bytes.length);
        for (byte b : bytes) sym.add(String.valueOf(BYTE_TO_CHAR[b & 0xff]));
        sym = merge(sym);
        int[] ids = new int[sym.size()];
        for (int i = 0; i < ids.length; i++) {
            Integer id = vocab.get(sym.get(i));
            if (id == null) throw new IllegalStateException("merge result '" + sym.get(i) + "' is not in the vocabulary");
            ids[i] = id;
        }
        return ids;
    }

    /** The text of ids (bytes that do not form valid UTF-8 become U+FFFD, as Hugging Face decodes). */
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) out.writeBytes(tokenBytes(id));
        String s = new String(out.toByteArray(), StandardCharsets.UTF_8);
        return sentencePiece && s.startsWith(" ") ? s.substring(1) : s;    // the space the encoder prepended
    }

    /**
     * Streams text as tokens arrive: {@link #push} returns the text completed so far, holding back
     * the bytes of a UTF-8 character split across tokens until its last byte arrives.
     */
    public final class StreamDecoder {
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

        public String push(int id) {
            pending.writeBytes(tokenBytes(id));
            byte[] b = pending.toByteArray();
            int complete = completePrefix(b);
            pending.reset();
            pending.write(b, complete, b.length - complete);
            return new String(b, 0, complete, StandardCharsets.UTF_8);
        }

        /** Whatever is still held back (an incomplete character at the end: U+FFFD). */
        public String flush() {
            String s = pending.toString(StandardCharsets.UTF_8);
            pending.reset();
            return s;
        }
    }

    public StreamDecoder streamDecoder() { return new StreamDecoder(); }

    /** Length of the longest prefix of b that does not end inside a UTF-8 sequence that could still complete. */
    static int completePrefix(byte[] b) {
        int n = b.length;
        // look back at most 3 bytes for a lead byte whose sequence is not finished yet
        for (int back = 1; back <= Math.min(3, n); back++) {
            int c = b[n - back] & 0xff;
            if ((c & 0xC0) == 0x80) continue;        // continuation byte: keep looking for the lead
            int need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
            return need > back ? n - back : n;
        }
        return n;
    }
}
