package dev.kiln.io;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON parser and string quoting (RFC 8259, no extensions), for safetensors headers,
 * tokenizer.json and model config files:
 * objects become {@link LinkedHashMap}s in document order (duplicate keys are an error), arrays
 * {@link List}s, integers {@link Long} (beyond the long range: error), other numbers {@link Double},
 * then String, Boolean and null. Nesting is limited to {@value #MAX_DEPTH} levels. Errors are
 * {@link IllegalArgumentException}s that name the source and the character position.
 */
public final class Json {
    static final int MAX_DEPTH = 32;

    private final String s;
    private final String source;
    private final String what;
    private int pos;

    private Json(String s, String source, String what) {
        this.s = s;
        this.source = source;
        this.what = what;
    }

    /** Parses one JSON value; only whitespace may follow it. Errors read "SOURCE: bad JSON at character N: ...". */
    public static Object parse(String text, String source) { return parse(text, source, "JSON"); }

    /** The same, naming the text {@code what} in errors ("header JSON"). */
    static Object parse(String text, String source, String what) {
        Json p = new Json(text, source, what);
        p.skipWs();
        Object v = p.value(0);
        p.skipWs();
        if (p.pos != text.length()) throw p.error("unexpected content after the JSON value");
        return v;
    }

    private IllegalArgumentException error(String problem) {
        return new IllegalArgumentException(source + ": bad " + what + " at character " + pos + ": " + SafetensorsHeader.oneLine(problem));
    }

    private void skipWs() {
        while (pos < s.length()) {
            char c = s.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
            pos++;
        }
    }

    private char peek() {
        if (pos >= s.length()) throw error("unexpected end of input");
        return s.charAt(pos);
    }

    private void expect(char c) {
        if (peek() != c) throw error("expected '" + c + "' but found '" + s.charAt(pos) + "'");
        pos++;
    }

    private Object value(int depth) {
        if (depth >= MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH + " levels");
        char c = peek();
        return switch (c) {
            case '{' -> object(depth);
            case '[' -> array(depth);
            case '"' -> string();
            case 't' -> literal("true", Boolean.TRUE);
            case 'f' -> literal("false", Boolean.FALSE);
            case 'n' -> literal("null", null);
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) yield number();
                throw error("unexpected character '" + c + "'");
            }
        };
    }

    private Object literal(String word, Object v) {
        if (!s.startsWith(word, pos)) throw error("unknown literal");
        pos += word.length();
        return v;
    }

    private Map<String, Object> object(int depth) {
        expect('{');
        Map<String, Object> m = new LinkedHashMap<>();
        skipWs();
        if (peek() == '}') {
            pos++;
            return m;
        }
        while (true) {
            skipWs();
            if (peek() != '"') throw error("expected a string key");
            int at = pos;
            String key = string();
            skipWs();
            expect(':');
            skipWs();
            if (m.containsKey(key)) {
                pos = at;
                throw error("duplicate key \"" + key + "\"");
            }
            m.put(key, value(depth + 1));
            skipWs();
            if (peek() == ',') { pos++; continue; }
            expect('}');
            return m;
        }
    }

    private List<Object> array(int depth) {
        expect('[');
        List<Object> a = new ArrayList<>();
        skipWs();
        if (peek() == ']') {
            pos++;
            return a;
        }
        while (true) {
            skipWs();
            a.add(value(depth + 1));
            skipWs();
            if (peek() == ',') { pos++; continue; }
            expect(']');
            return a;
        }
    }

    private String string() {
        expect('"');
        StringBuilder sb = new StringBuilder();
        while (true) {
            char c = peek();
            pos++;
            if (c == '"') return sb.toString();
            if (c < 0x20) { pos--; throw error("unescaped control character in a string"); }
            if (c != '\\') { sb.append(c); continue; }
            char e = peek();
            pos++;
            switch (e) {
                case '"', '\\', '/' -> sb.append(e);
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> sb.append(hex4());
                default -> { pos--; throw error("bad escape '\\" + e + "'"); }
            }
        }
    }

    private char hex4() {
        if (pos + 4 > s.length()) throw error("truncated \\u escape");
        int v = 0;
        for (int i = 0; i < 4; i++) {
            int d = Character.digit(s.charAt(pos + i), 16);
            if (d < 0) throw error("bad \\u escape");
            v = v * 16 + d;
        }
        pos += 4;
        return (char) v;
    }

    private Object number() {
        int start = pos;
        if (peek() == '-') pos++;
        if (peek() == '0') pos++;
        else digits();
        boolean integer = true;
        if (pos < s.length() && s.charAt(pos) == '.') {
            pos++;
            digits();
            integer = false;
        }
        if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
            pos++;
            if (peek() == '+' || peek() == '-') pos++;
            digits();
            integer = false;
        }
        String text = s.substring(start, pos);
        if (!integer) return Double.parseDouble(text);
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            pos = start;
            throw error("integer " + text + " out of range");
        }
    }

    private void digits() {
        if (pos >= s.length() || s.charAt(pos) < '0' || s.charAt(pos) > '9') throw error("expected a digit");
        while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
    }

    /** s as a JSON string literal (quotes, backslashes and control characters escaped). */
    public static String quote(String v) {
        StringBuilder sb = new StringBuilder(v.length() + 2).append('"');
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }
}
