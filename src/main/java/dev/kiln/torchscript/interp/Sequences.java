package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyTuple;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Indexing and slicing of lists, tuples, strings and dicts, with Python's negative indices. */
final class Sequences {
    private Sequences() {}

    static Object getItem(Object v, Object key) {
        return switch (v) {
            case PyTuple t -> t.get(Iteration.index(Values.toLong(key, "tuple index"), t.size()));
            case List<?> l -> l.get(Iteration.index(Values.toLong(key, "list index"), l.size()));
            case String s -> String.valueOf(s.charAt(Iteration.index(Values.toLong(key, "string index"), s.length())));
            case Map<?, ?> m -> {
                Object k = key instanceof Double d && d == Math.rint(d) ? key : key;
                if (!m.containsKey(k)) throw new ScriptException("KeyError: " + Values.repr(key));
                yield m.get(k);
            }
            case null, default -> throw new ScriptException("'" + Values.typeName(v) + "' object is not subscriptable");
        };
    }

    /** v[lower:upper:step] for lists, tuples and strings; null bounds are open. */
    static Object slice(Object v, Long lower, Long upper, Long step) {
        if (v instanceof String s) {
            StringBuilder sb = new StringBuilder();
            for (int i : positions(s.length(), lower, upper, step)) sb.append(s.charAt(i));
            return sb.toString();
        }
        List<Object> items = Values.items(v, "slice");
        List<Object> out = new ArrayList<>();
        for (int i : positions(items.size(), lower, upper, step)) out.add(items.get(i));
        return v instanceof PyTuple ? new PyTuple(out) : out;
    }

    static int[] positions(int n, Long lower, Long upper, Long step) {
        long st = step == null ? 1 : step;
        if (st == 0) throw new ScriptException("slice step cannot be zero");
        long lo, hi;
        if (st > 0) {
            lo = clamp(lower == null ? 0 : lower, n, 0, n);
            hi = clamp(upper == null ? n : upper, n, 0, n);
        } else {
            lo = clamp(lower == null ? n - 1 : lower, n, -1, n - 1);
            hi = upper == null ? -1 : clamp(upper, n, -1, n - 1);
        }
        List<Integer> idx = new ArrayList<>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) idx.add((int) i);
        return idx.stream().mapToInt(Integer::intValue).toArray();
    }

    private static long clamp(long i, int n, long min, long max) {
        long j = i < 0 ? i + n : i;
        return Math.max(min, Math.min(max, j));
    }
}
