package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.OnnxAttribute;
import dev.kiln.onnx.Value;
import dev.kiln.tensor.Tensor;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The text ops over ONNX string tensors: StringNormalizer and TfIdfVectorizer (which also takes
 * int32/int64 token ids). Cast to and from strings lives in {@link StringCast}.
 */
final class StringOps {
    private StringOps() {}

    static void register(OpRegistry r) {
        r.register("StringNormalizer", StringOps::stringNormalizer);
        r.register("TfIdfVectorizer", StringOps::tfIdfVectorizer);
    }

    // ------------------------------------------------------------------ StringNormalizer

    /**
     * Removes stopwords, then changes case (LOWER/UPPER/NONE) with the {@code locale} attribute's
     * rules (default en-US). Input [C] or [1, C]; output [C'] or [1, C'], and [1] / [1, 1] holding
     * one empty string when every word is removed. Case-insensitive matching compares lower-cased
     * forms.
     */
    private static List<Value> stringNormalizer(OpCall call) {
        Value.StringTensorValue x = call.strings(0);
        int[] shape = x.shape();
        if (!(shape.length == 1 || (shape.length == 2 && shape[0] == 1)))
            throw call.error("input must have shape [C] or [1, C], got " + Arrays.toString(shape));
        String action = call.attrString("case_change_action", "NONE");
        if (!action.equals("NONE") && !action.equals("LOWER") && !action.equals("UPPER"))
            throw call.error("case_change_action must be NONE, LOWER or UPPER, got '" + action + "'");
        boolean caseSensitive = call.attrInt("is_case_sensitive", 0) != 0;
        Locale locale = locale(call.attrString("locale", "en_US"));
        Set<String> stop = new HashSet<>();
        for (String w : strings(call, "stopwords")) stop.add(caseSensitive ? w : w.toLowerCase(locale));

        List<String> kept = new ArrayList<>();
        for (String w : x.data()) {
            if (stop.contains(caseSensitive ? w : w.toLowerCase(locale))) continue;
            kept.add(switch (action) {
                case "LOWER" -> w.toLowerCase(locale);
                case "UPPER" -> w.toUpperCase(locale);
                default -> w;
            });
        }
        if (kept.isEmpty()) kept.add("");
        String[] out = kept.toArray(String[]::new);
        return List.of(shape.length == 1 ? Value.strings(out, out.length) : Value.strings(out, 1, out.length));
    }

    /** "en_US" / "en-US" / "tr" as a Java locale (unknown tags give a locale with root rules). */
    static Locale locale(String tag) {
        return tag.isEmpty() ? Locale.ROOT : Locale.forLanguageTag(tag.replace('_', '-'));
    }

    static List<String> strings(OpCall call, String attr) {
        OnnxAttribute a = call.attr(attr);
        if (a == null || a.strings() == null) return List.of();
        List<String> out = new ArrayList<>(a.strings().size());
        for (byte[] b : a.strings()) out.add(new String(b, StandardCharsets.UTF_8));
        return out;
    }

    // ------------------------------------------------------------------ TfIdfVectorizer

    /**
     * Counts the pool's n-grams in each row of X ([C] or [N, C]; int32, int64 or string) and writes
     * one float per output column ({@code ngram_indexes}) as TF (counts), IDF (weight, default 1,
     * where the count is non-zero) or TFIDF (count times weight). N-grams of length n in
     * [min_gram_length, max_gram_length] are gathered with every skip k in [0, max_skip_count]
     * (items k+1 apart); unigrams are counted once, skips do not apply to them.
     */
    private static List<Value> tfIdfVectorizer(OpCall call) {
        TfIdfSpec spec = TfIdfSpec.of(call);
        Value in = call.value(0);
        Object[] tokens;
        int[] shape;
        if (in instanceof Value.StringTensorValue st) {
            if (!spec.stringPool()) throw call.error("string input needs pool_strings");
            tokens = st.data();
            shape = st.shape();
        } else {
            ElemType t = call.type(0);
            if (t != ElemType.INT32 && t != ElemType.INT64) throw call.error("input must be int32, int64 or string, got " + t);
            if (spec.stringPool()) throw call.error("integer input needs pool_int64s");
            Tensor x = call.in(0);
            tokens = Arrays.stream(x.toLongArray()).boxed().toArray();
            shape = x.shape();
        }
        if (shape.length != 1 && shape.length != 2) throw call.error("input must have rank 1 or 2, got " + Arrays.toString(shape));
        int rows = shape.length == 1 ? 1 : shape[0], cols = shape[shape.length - 1];
        float[] out = new float[Math.multiplyExact(rows, spec.width())];
        for (int r = 0; r < rows; r++) spec.row(tokens, r * cols, cols, out, r * spec.width());
        Tensor y = shape.length == 1 ? Tensor.fromArray(out, spec.width()) : Tensor.fromArray(out, rows, spec.width());
        return MathOps.one(y, ElemType.FLOAT);
    }

    /** The attributes of one TfIdfVectorizer node: the pool as a map from n-gram to its pool position. */
    record TfIdfSpec(String mode, int minGram, int maxGram, int maxSkip, Map<List<Object>, Integer> pool,
                     int[] ngramIndexes, float[] weights, int width, boolean stringPool) {

        static TfIdfSpec of(OpCall call) {
            String mode = call.attrString("mode", "");
            if (!mode.equals("TF") && !mode.equals("IDF") && !mode.equals("TFIDF"))
                throw call.error("mode must be TF, IDF or TFIDF, got '" + mode + "'");
            int minGram = (int) call.attrInt("min_gram_length", 0), maxGram = (int) call.attrInt("max_gram_length", 0);
            int maxSkip = (int) call.attrInt("max_skip_count", 0);
            if (minGram < 1 || maxGram < minGram)
                throw call.error("need 1 <= min_gram_length <= max_gram_length, got " + minGram + ", " + maxGram);
            if (maxSkip < 0) throw call.error("max_skip_count must be >= 0, got " + maxSkip);
            long[] counts = call.attrInts("ngram_counts", new long[0]);
            int[] indexes = call.attrIntArray("ngram_indexes", new int[0]);
            boolean strings = call.hasAttr("pool_strings");
            List<Object> items = new ArrayList<>();
            if (strings) items.addAll(StringOps.strings(call, "pool_strings"));
            else for (long v : call.attrInts("pool_int64s", new long[0])) items.add(v);
            Map<List<Object>, Integer> pool = pool(call, items, counts, indexes.length);
            float[] weights = call.attrFloats("weights", null);
            if (weights != null && weights.length != indexes.length)
                throw call.error("weights has " + weights.length + " entries, ngram_indexes " + indexes.length);
            int width = 0;
            for (int idx : indexes) {
                if (idx < 0) throw call.error("negative ngram_indexes entry " + idx);
                width = Math.max(width, idx + 1);
            }
            return new TfIdfSpec(mode, minGram, maxGram, maxSkip, pool, indexes, weights, width, strings);
        }

        /** N-gram -> its position in the pool; level i of the pool (i+1-grams) starts at ngram_counts[i]. */
        private static Map<List<Object>, Integer> pool(OpCall call, List<Object> items, long[] counts, int ngrams) {
            Map<List<Object>, Integer> pool = new HashMap<>();
            int position = 0;
            for (int level = 0; level < counts.length; level++) {
                long start = counts[level], end = level + 1 < counts.length ? counts[level + 1] : items.size();
                int n = level + 1;
                if (start < 0 || end < start || end > items.size() || (end - start) % n != 0)
                    throw call.error("ngram_counts " + Arrays.toString(counts) + " does not split a pool of "
                            + items.size() + " items into whole " + n + "-grams");
                for (long i = start; i < end; i += n) {
                    if (position >= ngrams)
                        throw call.error("the pool holds more n-grams than ngram_indexes has entries (" + ngrams + ")");
                    pool.putIfAbsent(List.copyOf(items.subList((int) i, (int) i + n)), position++);
                }
            }
            if (position != ngrams)
                throw call.error("the pool holds " + position + " n-grams, ngram_indexes has " + ngrams + " entries");
            return pool;
        }

        /** Counts the n-grams of tokens[from, from+len) and writes the row's outputs at out[at, at+width). */
        void row(Object[] tokens, int from, int len, float[] out, int at) {
            int[] count = new int[ngramIndexes.length];
            for (int n = minGram; n <= maxGram; n++) {
                int skips = n == 1 ? 0 : maxSkip;
                for (int skip = 0; skip <= skips; skip++) {
                    int step = skip + 1;
                    for (int s = 0; s + (long) (n - 1) * step < len; s++) {
                        Object[] gram = new Object[n];
                        for (int k = 0; k < n; k++) gram[k] = tokens[from + s + k * step];
                        Integer p = pool.get(Arrays.asList(gram));
                        if (p != null) count[p]++;
                    }
                }
            }
            for (int p = 0; p < count.length; p++) {
                if (count[p] == 0) continue;
                float w = weights == null ? 1f : weights[p];
                int col = at + ngramIndexes[p];
                switch (mode) {
                    case "TF" -> out[col] += count[p];
                    case "IDF" -> out[col] = w;
                    default -> out[col] += count[p] * w;
                }
            }
        }
    }
}
