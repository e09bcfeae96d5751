package dev.kiln.io;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict parser for the Python literal subset found in .npy headers: dicts with string
 * keys, tuples, lists, strings, integers (a Python 2 {@code L} suffix is accepted), True, False
 * and None. Nothing is ever evaluated; anything else is an error naming the file.
 * Values map to String, Long, Boolean, {@link Tuple}, List, Map (insertion-ordered) and {@link #NONE}.
 */
final class PyLiteral {
    /** A Python tuple (distinct from a list, as the .npy 'shape' must be a tuple). */
    record Tuple(List<Object> items) {}

    /** Python's None. */
    static final Object NONE = new Object() {
        @Override public String toString() { return "None"; }
    };

    private static final int MAX_DEPTH = 16;

    private final String s;
    private final String name;
    private int pos;

    private PyLiteral(String s, String name) {
        this.s = s;
        this.name = name;
    }

    /** Parses text as exactly one literal (surrounding whitespace allowed). */
    static Object parse(String text, String name) throws KilnFormatException {
        PyLiteral p = new PyLiteral(text, name);
        Object v = p.value(0);
        p.skipSpace();
        if (p.pos != p.s.length()) throw p.error("unexpected text after the header dict");
        return v;
    }

    private Object value(int depth) throws KilnFormatException {
        if (depth > MAX_DEPTH) throw error("nesting too deep");
        skipSpace();
        if (pos >= s.length()) throw error("unexpected end of header");
        char c = s.charAt(pos);
        return switch (c) {
            case '{' -> dict(depth);
            case '(' -> tuple(depth);
            case '[' -> { pos++; yield items(']', depth, new boolean[1]); }
            case '\'', '"' -> string();
            default -> c == '-' || c == '+' || Character.isDigit(c) ? integer() : word();
        };
    }

    private Map<String, Object> dict(int depth) throws KilnFormatException {
        pos++; // '{'
        Map<String, Object> m = new LinkedHashMap<>();
        while (true) {
            skipSpace();
            if (peek() == '}') { pos++; return m; }
            if (peek() != '\'' && peek() != '"') throw error("dict keys must be strings");
            String key = string();
            skipSpace();
            expect(':');
            Object v = value(depth + 1);
            if (m.containsKey(key)) throw error("duplicate key '" + key + "'");
            m.put(key, v);
            skipSpace();
            if (peek() == ',') pos++;
            else if (peek() != '}') throw error("expected ',' or '}'");
        }
    }

    /** A parenthesized expression: (x) is x itself, (x,) and (x, y) are tuples, () is empty. */
    private Object tuple(int depth) throws KilnFormatException {
        pos++; // '('
        boolean[] comma = new boolean[1];
        List<Object> items = items(')', depth, comma);
        if (items.size() == 1 && !comma[0]) return items.get(0);
        return new Tuple(items);
    }

    /** Comma-separated values up to close; sawComma[0] tells whether any comma appeared. */
    private List<Object> items(char close, int depth, boolean[] sawComma) throws KilnFormatException {
        List<Object> out = new ArrayList<>();
        while (true) {
            skipSpace();
            if (peek() == close) { pos++; return out; }
            out.add(value(depth + 1));
            skipSpace();
            if (peek() == ',') { pos++; sawComma[0] = true; }
            else if (peek() != close) throw error("expected ',' or '" + close + "'");
        }
    }

    private String string() throws KilnFormatException {
        char q = s.charAt(pos++);
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= s.length()) throw error("unterminated string");
            char c = s.charAt(pos++);
            if (c == q) return sb.toString();
            if (c == '\n') throw error("newline in string");
            if (c != '\\') { sb.append(c); continue; }
            if (pos >= s.length()) throw error("unterminated string");
            char e = s.charAt(pos++);
            switch (e) {
                case '\\', '\'', '"' -> sb.append(e);
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case 'r' -> sb.append('\r');
                case '0' -> sb.append('\0');
                case 'x' -> sb.append((char) hex(2));
                case 'u' -> sb.append((char) hex(4));
                default -> throw error("unsupported escape '\\" + e + "'");
            }
        }
    }

    private int hex(int digits) throws KilnFormatException {
        if (pos + digits > s.length()) throw error("bad escape");
        try {
            int v = Integer.parseInt(s.substring(pos, pos + digits), 16);
            pos += digits;
            return v;
        } catch (NumberFormatException e) {
            throw error("bad escape");
        }
    }

    private Long integer() throws KilnFormatException {
        int start = pos;
        if (peek() == '-' || peek() == '+') pos++;
        int digits = pos;
        while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
        if (pos == digits) throw error("expected a number");
        String text = s.substring(start, pos);
        if (pos < s.length() && (s.charAt(pos) == 'L' || s.charAt(pos) == 'l')) pos++; // Python 2 long
        if (pos < s.length() && (Character.isLetterOrDigit(s.charAt(pos)) || s.charAt(pos) == '.'))
            throw error("only integers are allowed here");
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw error("integer out of range: " + text);
        }
    }

    private Object word() throws KilnFormatException {
        int start = pos;
        while (pos < s.length() && (Character.isLetterOrDigit(s.charAt(pos)) || s.charAt(pos) == '_')) pos++;
        String w = s.substring(start, pos);
        return switch (w) {
            case "True" -> Boolean.TRUE;
            case "False" -> Boolean.FALSE;
            case "None" -> NONE;
            default -> {
                pos = start;
                throw error(w.isEmpty() ? "unexpected character '" + s.charAt(pos) + "'" : "unsupported token '" + w + "'");
            }
        };
    }

    private void expect(char c) throws KilnFormatException {
        if (peek() != c) throw error("expected '" + c + "'");
        pos++;
    }

    private char peek() { return pos < s.length() ? s.charAt(pos) : '\uffff'; }

    private void skipSpace() {
        while (pos < s.length() && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t' || s.charAt(pos) == '\n' || s.charAt(pos) == '\r')) pos++;
    }

    private KilnFormatException error(String what) {
        int from = Math.max(0, pos - 20), to = Math.min(s.length(), pos + 20);
        String near = s.substring(from, to).replace("\n", "\\n");
        return new KilnFormatException(name + ": bad header: " + what + " at offset " + pos + " (near \"" + near + "\")");
    }
}
