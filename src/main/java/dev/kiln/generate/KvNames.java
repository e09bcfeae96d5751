package dev.kiln.generate;

/**
 * How an ONNX decoder names its key/value cache: for layer i, the key and value inputs (the past)
 * and outputs (the present), each a pattern with {@code {i}} where the layer index stands.
 * {@link #OPTIMUM} is Hugging Face optimum's naming ({@code past_key_values.{i}.key} ->
 * {@code present.{i}.key}); {@link #parse} reads other namings as {@code kiln generate --kv-map}
 * takes them: {@code PAST_KEY,PAST_VALUE=PRESENT_KEY,PRESENT_VALUE}, e.g.
 * {@code past_key_{i},past_value_{i}=present_key_{i},present_value_{i}}.
 */
public record KvNames(String pastKey, String pastValue, String presentKey, String presentValue) {
    /** Hugging Face optimum's names. */
    public static final KvNames OPTIMUM = new KvNames("past_key_values.{i}.key", "past_key_values.{i}.value", "present.{i}.key", "present.{i}.value");

    public KvNames {
        String[] all = {pastKey, pastValue, presentKey, presentValue};
        for (String p : all) {
            if (p == null || p.isBlank()) throw new IllegalArgumentException("kv-map: empty name pattern");
            int at = p.indexOf("{i}");
            if (at < 0 || p.indexOf("{i}", at + 1) >= 0)
                throw new IllegalArgumentException("kv-map: pattern '" + p + "' must contain {i} (the layer index) exactly once");
        }
        for (int a = 0; a < all.length; a++)
            for (int b = a + 1; b < all.length; b++)
                if (all[a].equals(all[b])) throw new IllegalArgumentException("kv-map: pattern '" + all[a] + "' is given twice");
    }

    /**
     * PAST_KEY,PAST_VALUE=PRESENT_KEY,PRESENT_VALUE (four patterns with {@code {i}}); a one-line
     * IllegalArgumentException naming the problem otherwise.
     */
    public static KvNames parse(String spec) {
        String[] sides = spec.split("=", -1);
        if (sides.length != 2)
            throw new IllegalArgumentException("kv-map: expected PAST_KEY,PAST_VALUE=PRESENT_KEY,PRESENT_VALUE, got '" + spec + "'");
        String[] past = sides[0].split(",", -1), present = sides[1].split(",", -1);
        if (past.length != 2 || present.length != 2)
            throw new IllegalArgumentException("kv-map: expected two patterns on each side of '=' (key,value), got '" + spec + "'");
        return new KvNames(past[0].trim(), past[1].trim(), present[0].trim(), present[1].trim());
    }

    /** The cache slot (2 * layer, + 1 for the value) a past input of this name feeds, or -1. */
    int pastSlot(String name) { return slot(name, pastKey, pastValue); }

    /** The cache slot a present output of this name returns, or -1. */
    int presentSlot(String name) { return slot(name, presentKey, presentValue); }

    /** The name of the past input of a cache slot. */
    String past(int slot) { return name(slot % 2 == 0 ? pastKey : pastValue, slot / 2); }

    /** The name of the present output of a cache slot. */
    String present(int slot) { return name(slot % 2 == 0 ? presentKey : presentValue, slot / 2); }

    /** The four patterns, as --kv-map takes them. */
    @Override public String toString() { return pastKey + "," + pastValue + "=" + presentKey + "," + presentValue; }

    private static int slot(String name, String key, String value) {
        int layer = layer(name, key);
        if (layer >= 0) return 2 * layer;
        layer = layer(name, value);
        return layer >= 0 ? 2 * layer + 1 : -1;
    }

    /** The layer index name holds where pattern has {i} (one to nine digits), or -1. */
    private static int layer(String name, String pattern) {
        int at = pattern.indexOf("{i}");
        String pre = pattern.substring(0, at), post = pattern.substring(at + 3);
        int end = name.length() - post.length();
        if (end <= pre.length() || end - pre.length() > 9 || !name.startsWith(pre) || !name.endsWith(post)) return -1;
        int layer = 0;
        for (int i = pre.length(); i < end; i++) {
            char ch = name.charAt(i);
            if (ch < '0' || ch > '9') return -1;
            layer = 10 * layer + (ch - '0');
        }
        return layer;
    }

    private static String name(String pattern, int layer) { return pattern.replace("{i}", Integer.toString(layer)); }
}
