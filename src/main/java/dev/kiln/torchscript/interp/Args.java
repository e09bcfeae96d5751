package dev.kiln.torchscript.interp;

import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * The arguments of one builtin call: positional values, keyword values, and the op's parameter
 * names (its schema), so get(i) finds an argument given either way. Getters convert and fail with
 * the op's name.
 */
final class Args {
    private final String op;
    private final List<Object> positional;
    private final Map<String, Object> keywords;
    private final String[] names;

    Args(String op, List<Object> positional, Map<String, Object> keywords, String[] names) {
        this.op = op;
        this.positional = positional;
        this.keywords = keywords;
        this.names = names;
        if (names == null && !keywords.isEmpty())
            throw new ScriptException(op + ": does not take keyword arguments " + keywords.keySet());
        if (names != null) {
            if (positional.size() > names.length)
                throw new ScriptException(op + ": takes at most " + names.length + " arguments, got " + positional.size());
            for (String k : keywords.keySet())
                if (!List.of(names).contains(k)) throw new ScriptException(op + ": unexpected keyword argument '" + k + "'");
        }
    }

    String op() { return op; }

    int size() {
        int n = positional.size();
        if (names != null) for (int i = n; i < names.length; i++) if (keywords.containsKey(names[i])) n = i + 1;
        return n;
    }

    List<Object> positional() { return positional; }

    boolean has(int i) {
        if (i < positional.size()) return true;
        return names != null && i < names.length && keywords.containsKey(names[i]);
    }

    /** Argument i, or dflt when it was not given (None given explicitly stays null). */
    Object get(int i, Object dflt) {
        if (i < positional.size()) return positional.get(i);
        if (names != null && i < names.length && keywords.containsKey(names[i])) return keywords.get(names[i]);
        return dflt;
    }

    Object get(int i) {
        if (!has(i)) throw new ScriptException(op + ": missing argument " + name(i));
        return get(i, null);
    }

    private String name(int i) { return names != null && i < names.length ? "'" + names[i] + "'" : "#" + (i + 1); }

    Tensor tensor(int i) {
        Object v = get(i);
        if (v instanceof Tensor t) return t;
        throw error("argument " + name(i) + " must be a Tensor, got " + Values.typeName(v));
    }

    /** An optional tensor: absent or None give null. */
    Tensor optTensor(int i) {
        Object v = get(i, null);
        if (v == null) return null;
        if (v instanceof Tensor t) return t;
        throw error("argument " + name(i) + " must be a Tensor or None, got " + Values.typeName(v));
    }

    long getLong(int i) { return Values.toLong(get(i), op + " " + name(i)); }

    long getLong(int i, long dflt) {
        Object v = get(i, null);
        return v == null ? dflt : Values.toLong(v, op + " " + name(i));
    }

    int getInt(int i) { return Math.toIntExact(getLong(i)); }

    int getInt(int i, int dflt) { return Math.toIntExact(getLong(i, dflt)); }

    double getDouble(int i) { return Values.toDouble(get(i), op + " " + name(i)); }

    double getDouble(int i, double dflt) {
        Object v = get(i, null);
        return v == null ? dflt : Values.toDouble(v, op + " " + name(i));
    }

    boolean getBool(int i, boolean dflt) {
        Object v = get(i, null);
        return v == null ? dflt : Values.truthy(v);
    }

    String getString(int i, String dflt) {
        Object v = get(i, null);
        if (v == null) return dflt;
        if (v instanceof String s) return s;
        throw error("argument " + name(i) + " must be a str, got " + Values.typeName(v));
    }

    int[] ints(int i) { return Values.toInts(get(i), op + " " + name(i)); }

    int[] ints(int i, int[] dflt) {
        Object v = get(i, null);
        return v == null ? dflt : Values.toInts(v, op + " " + name(i));
    }

    /** A dtype= argument (ScalarType code) or null when absent/None. */
    DType dtype(int i) {
        Object v = get(i, null);
        return v == null ? null : ScalarTypes.dtype(Values.toLong(v, op + " dtype"));
    }

    ScriptException error(String msg) { return new ScriptException(op + ": " + msg); }
}
