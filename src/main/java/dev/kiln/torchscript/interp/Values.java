package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Conversions and Python semantics for interpreter values: None = null, bool = Boolean, int =
 * Long, float = Double, str = String, list = java.util.List, tuple = PyTuple, dict = Map, Tensor,
 * module = PyObject. Truthiness, equality, str() and type names follow Python.
 */
final class Values {
    private Values() {}

    static String typeName(Object v) {
        return switch (v) {
            case null -> "None";
            case Boolean b -> "bool";
            case Long l -> "int";
            case Double d -> "float";
            case String s -> "str";
            case Tensor t -> "Tensor";
            case PyTuple t -> "tuple";
            case List<?> l -> "list";
            case Map<?, ?> m -> "dict";
            case PyObject o -> o.className();
            case Refs.Device d -> "Device";
            default -> v.getClass().getSimpleName();
        };
    }

    static boolean truthy(Object v) {
        return switch (v) {
            case null -> false;
            case Boolean b -> b;
            case Long l -> l != 0;
            case Double d -> d != 0;
            case String s -> !s.isEmpty();
            case Tensor t -> {
                if (t.numel() != 1) throw new ScriptException("the truth value of a Tensor with "
                        + t.numel() + " elements is ambiguous");
                yield t.getFlat(0) != 0;
            }
            case PyTuple t -> t.size() > 0;
            case List<?> l -> !l.isEmpty();
            case Map<?, ?> m -> !m.isEmpty();
            case Refs.Uninitialized u -> throw new ScriptException("use of an uninitialized value");
            default -> true;
        };
    }

    static boolean isNumber(Object v) { return v instanceof Long || v instanceof Double || v instanceof Boolean; }

    static long toLong(Object v, String what) {
        return switch (v) {
            case Long l -> l;
            case Boolean b -> b ? 1 : 0;
            case Double d -> (long) d.doubleValue();
            case Tensor t when t.numel() == 1 -> (long) t.getFlat(0);
            case null, default -> throw new ScriptException(what + ": expected an int, got " + typeName(v));
        };
    }

    static double toDouble(Object v, String what) {
        return switch (v) {
            case Long l -> l;
            case Double d -> d;
            case Boolean b -> b ? 1 : 0;
            case Tensor t when t.numel() == 1 -> t.getFlat(0);
            case null, default -> throw new ScriptException(what + ": expected a number, got " + typeName(v));
        };
    }

    /** An int list argument; a single int stands for a one-element list (as in IntArrayRef). */
    static int[] toInts(Object v, String what) {
        if (v instanceof Long || v instanceof Boolean) return new int[]{(int) toLong(v, what)};
        List<Object> items = items(v, what);
        int[] out = new int[items.size()];
        for (int i = 0; i < out.length; i++) out[i] = Math.toIntExact(toLong(items.get(i), what));
        return out;
    }

    /** The elements of a list or tuple. */
    @SuppressWarnings("unchecked")
    static List<Object> items(Object v, String what) {
        if (v instanceof PyTuple t) return t.items();
        if (v instanceof List<?> l) return (List<Object>) l;
        throw new ScriptException(what + ": expected a list or tuple, got " + typeName(v));
    }

    static Tensor tensor(Object v, String what) {
        if (v instanceof Tensor t) return t;
        throw new ScriptException(what + ": expected a Tensor, got " + typeName(v));
    }

    static List<Object> intList(int[] dims) {
        List<Object> out = new ArrayList<>(dims.length);
        for (int d : dims) out.add((long) d);
        return out;
    }

    /** Python ==: numbers by value across int/float/bool, sequences element-wise, others by equals. */
    static boolean pyEquals(Object a, Object b) {
        if (a == b) return true;
        if (a == null || b == null) return false;
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) return toDouble(a, "==") == toDouble(b, "==");
            return toLong(a, "==") == toLong(b, "==");
        }
        boolean seqA = a instanceof List<?> || a instanceof PyTuple, seqB = b instanceof List<?> || b instanceof PyTuple;
        if (seqA && seqB) {
            if ((a instanceof PyTuple) != (b instanceof PyTuple)) return false;
            List<Object> la = items(a, "=="), lb = items(b, "==");
            if (la.size() != lb.size()) return false;
            for (int i = 0; i < la.size(); i++) if (!pyEquals(la.get(i), lb.get(i))) return false;
            return true;
        }
        if (a instanceof Tensor || b instanceof Tensor) return false;
        return Objects.equals(a, b);
    }

    /** Python str(). */
    static String str(Object v) {
        return switch (v) {
            case null -> "None";
            case Boolean b -> b ? "True" : "False";
            case Double d -> formatDouble(d);
            case String s -> s;
            case PyTuple t -> {
                StringBuilder sb = new StringBuilder("(");
                for (int i = 0; i < t.size(); i++) sb.append(i > 0 ? ", " : "").append(repr(t.get(i)));
                yield sb.append(t.size() == 1 ? ",)" : ")").toString();
            }
            case List<?> l -> {
                StringBuilder sb = new StringBuilder("[");
                for (int i = 0; i < l.size(); i++) sb.append(i > 0 ? ", " : "").append(repr(l.get(i)));
                yield sb.append("]").toString();
            }
            case Tensor t -> "tensor(shape=" + java.util.Arrays.toString(t.shape()) + ", dtype=" + t.dtype().pyName() + ")";
            default -> String.valueOf(v);
        };
    }

    static String repr(Object v) { return v instanceof String s ? "'" + s + "'" : str(v); }

    private static String formatDouble(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == Math.rint(d) && Math.abs(d) < 1e16) return String.valueOf((long) d) + ".";
        return String.valueOf(d);
    }

    static boolean isFloating(DType t) { return t.isFloating(); }
}
