package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python-level builtins and ops.prim.*: len/int/float/bool/str/range/min/max, list operations,
 * string formatting, identity (is / is not), exceptions, and the device / dtype / grad queries
 * the nn code asks (the answers describe a CPU inference run: no CUDA, no autograd, no autocast).
 */
final class PrimOps {
    private PrimOps() {}

    static boolean is(Object a, Object b) {
        if (a == null || b == null) return a == b;
        if (a instanceof Tensor || b instanceof Tensor || a instanceof List<?> || b instanceof List<?>) return a == b;
        return a.equals(b);
    }

    static void register(OpTable t) {
        builtins(t);
        lists(t);
        strings(t);
        prims(t);
    }

    private static void builtins(OpTable t) {
        t.add("builtins.len", "x", a -> len(a.get(0)));
        t.add("len", "x", a -> len(a.get(0)));
        t.add("builtins.int", "x", a -> toInt(a.get(0)));
        t.add("Int", "x", a -> toInt(a.get(0)));
        t.add("builtins.float", "x", a -> toFloat(a.get(0)));
        t.add("Float", "x", a -> toFloat(a.get(0)));
        t.add("builtins.bool", "x", a -> Values.truthy(a.get(0)));
        t.add("Bool", "x", a -> Values.truthy(a.get(0)));
        t.add("ScalarImplicit", "x", a -> item(a.tensor(0)));
        t.add("builtins.str", "x", a -> Values.str(a.get(0)));
        t.add("str", "x", a -> Values.str(a.get(0)));
        t.add("builtins.range", "a, b, c", a -> a.size() == 1 ? new Iteration.Range(0, a.getLong(0), 1)
                : new Iteration.Range(a.getLong(0), a.getLong(1), a.getLong(2, 1)));
        t.add("builtins.min", "a, b", a -> minMax(a, "min"));
        t.add("builtins.max", "a, b", a -> minMax(a, "max"));
        t.add("ops.prim.min", "a, b", a -> minMax(a, "min"));
        t.add("ops.prim.max", "a, b", a -> minMax(a, "max"));
        t.add("builtins.abs", "x", a -> a.get(0) instanceof Tensor x ? x.abs() : Scalars.unary("abs", a.get(0)));
        t.add("builtins.print", "", a -> null);
        t.add("builtins.list", "x", a -> a.has(0) ? new ArrayList<>(Values.items(a.get(0), "list")) : new ArrayList<>());
        t.add("list", "x", a -> new ArrayList<>(Values.items(a.get(0), "list")));
        t.add("builtins.tuple", "x", a -> new PyTuple(List.copyOf(Values.items(a.get(0), "tuple"))));
        t.add("builtins.round", "x", a -> (double) Math.rint(a.getDouble(0)));
        t.add("builtins.divmod", "a, b", a -> new PyTuple(List.of(Scalars.arith("floordiv", a.get(0), a.get(1)),
                Scalars.arith("remainder", a.get(0), a.get(1)))));
    }

    private static Object len(Object v) {
        return switch (v) {
            case String s -> (long) s.length();
            case Map<?, ?> m -> (long) m.size();
            case Tensor x -> {
                if (x.dim() == 0) throw new ScriptException("len() of a 0-d tensor");
                yield (long) x.shape()[0];
            }
            case Iteration.Range r -> r.length();
            default -> (long) Values.items(v, "len").size();
        };
    }

    /** A one-element tensor as a Python number: bool, int (integral dtypes) or float. */
    static Object item(Tensor x) {
        if (x.numel() != 1) throw new ScriptException("a Tensor with " + x.numel() + " elements cannot be converted to a scalar");
        if (x.dtype() == DType.BOOL) return x.getFlat(0) != 0;
        return x.dtype().isFloating() ? (Object) x.getFlat(0) : (Object) (long) x.getFlat(0);
    }

    private static Object toInt(Object v) {
        return switch (v) {
            case String s -> {
                try {
                    yield Long.parseLong(s.trim());
                } catch (NumberFormatException e) {
                    throw new ScriptException("invalid literal for int(): '" + s + "'");
                }
            }
            case Double d -> {
                if (d.isNaN() || d.isInfinite()) throw new ScriptException("cannot convert float " + d + " to integer");
                yield (long) d.doubleValue();
            }
            default -> Values.toLong(v, "int");
        };
    }

    private static Object toFloat(Object v) {
        if (v instanceof String s) {
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                throw new ScriptException("could not convert string to float: '" + s + "'");
            }
        }
        return Values.toDouble(v, "float");
    }

    private static Object minMax(Args a, String which) {
        List<Object> items = a.size() == 1 ? Values.items(a.get(0), which) : List.of(a.get(0), a.get(1));
        if (items.isEmpty()) throw new ScriptException(which + "() of an empty sequence");
        Object best = items.get(0);
        for (Object v : items.subList(1, items.size())) {
            boolean better = Scalars.order(which.equals("min") ? "lt" : "gt", v, best);
            if (better) best = v;
        }
        return best;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> mutable(Object v, String op) {
        if (v instanceof List<?> l && !(v instanceof PyTuple)) return (List<Object>) l;
        throw new ScriptException(op + ": expected a list, got " + Values.typeName(v));
    }

    private static void lists(OpTable t) {
        for (String p : new String[]{"torch.", "list."}) {
            t.add(p + "append", "self, el", a -> { mutable(a.get(0), "append").add(a.get(1)); return a.get(0); });
            t.add(p + "extend", "self, other", a -> {
                mutable(a.get(0), "extend").addAll(Values.items(a.get(1), "extend"));
                return null;
            });
            t.add(p + "insert", "self, idx, el", a -> {
                List<Object> l = mutable(a.get(0), "insert");
                long i = a.getLong(1);
                l.add((int) Math.max(0, Math.min(l.size(), i < 0 ? i + l.size() : i)), a.get(2));
                return null;
            });
            t.add(p + "pop", "self, idx", a -> {
                List<Object> l = mutable(a.get(0), "pop");
                return l.remove(Iteration.index(a.getLong(1, -1), l.size()));
            });
            t.add(p + "copy", "self", a -> new ArrayList<>(mutable(a.get(0), "copy")));
            t.add(p + "clear", "self", a -> { mutable(a.get(0), "clear").clear(); return null; });
            t.add(p + "reverse", "self", a -> { java.util.Collections.reverse(mutable(a.get(0), "reverse")); return null; });
            t.add(p + "index", "self, el", a -> {
                List<Object> l = Values.items(a.get(0), "index");
                for (int i = 0; i < l.size(); i++) if (Values.pyEquals(l.get(i), a.get(1))) return (long) i;
                throw new ScriptException("ValueError: " + Values.repr(a.get(1)) + " is not in list");
            });
            t.add(p + "count", "self, el", a -> Values.items(a.get(0), "count").stream()
                    .filter(x -> Values.pyEquals(x, a.get(1))).count());
        }
        t.add("__contains__", "self, key", a -> contains(a.get(0), a.get(1)));
        t.add("__getitem__", "self, idx", a -> Sequences.getItem(a.get(0), a.get(1)));
        t.add("any", "self", a -> a.get(0) instanceof Tensor x ? (Object) anyAll(x, true)
                : Values.items(a.get(0), "any").stream().anyMatch(Values::truthy));
        t.add("all", "self", a -> a.get(0) instanceof Tensor x ? (Object) anyAll(x, false)
                : Values.items(a.get(0), "all").stream().allMatch(Values::truthy));
        t.add("dict.keys", "self", a -> new ArrayList<>(((Map<?, ?>) a.get(0)).keySet()));
        t.add("dict.values", "self", a -> new ArrayList<>(((Map<?, ?>) a.get(0)).values()));
        t.add("dict.items", "self", a -> ((Map<?, ?>) a.get(0)).entrySet().stream()
                .map(e -> (Object) new PyTuple(java.util.Arrays.asList(e.getKey(), e.getValue()))).toList());
        t.add("dict.get", "self, key, default", a -> {
            Map<?, ?> m = (Map<?, ?>) a.get(0);
            return m.containsKey(a.get(1)) ? m.get(a.get(1)) : a.get(2, null);
        });
    }

    private static Tensor anyAll(Tensor x, boolean any) {
        double[] v = x.toDoubleArray();
        boolean r = !any;
        for (double d : v) if ((d != 0) == any) { r = any; break; }
        return Tensor.scalar(r ? 1 : 0, DType.BOOL);
    }

    private static boolean contains(Object container, Object key) {
        return switch (container) {
            case String s -> s.contains(Values.str(key));
            case Map<?, ?> m -> m.containsKey(key);
            default -> Values.items(container, "in").stream().anyMatch(x -> Values.pyEquals(x, key));
        };
    }

    private static void strings(OpTable t) {
        t.add("format", "", a -> format(a.positional()));
        t.add("str.format", "", a -> format(a.positional()));
        t.add("find", "self, substr, start, end", a -> {
            String s = a.getString(0, "");
            int start = (int) Math.min(s.length(), Math.max(0, a.getLong(2, 0)));
            int end = (int) Math.min(s.length(), Math.max(start, a.getLong(3, s.length())));
            int i = s.substring(0, end).indexOf(a.getString(1, ""), start);
            return (long) i;
        });
        t.add("str.startswith", "self, prefix", a -> a.getString(0, "").startsWith(a.getString(1, "")));
        t.add("str.endswith", "self, suffix", a -> a.getString(0, "").endsWith(a.getString(1, "")));
        t.add("str.join", "self, items", a -> String.join(a.getString(0, ""),
                Values.items(a.get(1), "join").stream().map(Values::str).toList()));
        t.add("str.lower", "self", a -> a.getString(0, "").toLowerCase());
        t.add("str.upper", "self", a -> a.getString(0, "").toUpperCase());
        t.add("warn", "message, stacklevel", a -> null);
    }

    /** torch.format / str.format: "{}" placeholders filled in order with str() of the arguments. */
    static String format(List<Object> args) {
        if (args.isEmpty() || !(args.get(0) instanceof String fmt)) throw new ScriptException("format: expected a format string");
        StringBuilder sb = new StringBuilder();
        int next = 1, i = 0;
        while (i < fmt.length()) {
            int open = fmt.indexOf('{', i);
            if (open < 0) { sb.append(fmt, i, fmt.length()); break; }
            int close = fmt.indexOf('}', open);
            if (close < 0) { sb.append(fmt, i, fmt.length()); break; }
            sb.append(fmt, i, open);
            sb.append(next < args.size() ? Values.str(args.get(next++)) : "{}");
            i = close + 1;
        }
        return sb.toString();
    }

    private static void prims(OpTable t) {
        t.add("ops.prim.RaiseException", "msg, cls", a -> {
            String cls = a.getString(1, null);
            String msg = Values.str(a.get(0));
            throw new ScriptException.ScriptRaise(cls == null ? msg : cls.replace("builtins.", "") + ": " + msg);
        });
        t.add("ops.prim.dtype", "a", a -> ScalarTypes.code(a.tensor(0).dtype()));
        t.add("ops.prim.device", "a", a -> new Refs.Device("cpu"));
        t.add("device", "type", a -> new Refs.Device(a.getString(0, "cpu")));
        t.add("ops.prim.is_cuda", "a", a -> false);
        t.add("ops.prim.is_nested", "a", a -> false);
        t.add("ops.prim.is_quantized", "a", a -> false);
        t.add("ops.prim.is_mkldnn", "a", a -> false);
        t.add("ops.prim.requires_grad", "a", a -> false);
        t.add("ops.prim.layout", "a", a -> 0L);
        t.add("ops.prim.data", "a", a -> a.tensor(0));
        t.add("ops.prim.shape", "a", a -> Values.intList(a.tensor(0).shape()));
        t.add("ops.prim.unchecked_unwrap_optional", "a", a -> a.get(0));
        t.add("ops.prim.NumToTensor", "a", a -> numToTensor(a.get(0)));
        t.add("is_grad_enabled", "", a -> false);
        t.add("is_autocast_enabled", "", a -> false);
        t.add("is_autocast_cpu_enabled", "", a -> false);
        t.add("is_scripting", "", a -> true);
        t.add("__is__", "self, obj", a -> is(a.get(0), a.get(1)));
        t.add("__isnot__", "self, obj", a -> !is(a.get(0), a.get(1)));
        t.add("__not__", "self", a -> !Values.truthy(a.get(0)));
        t.add("_set_item", "l, idx, el", a -> {
            Object c = a.get(0);
            if (c instanceof Map<?, ?> m) {
                @SuppressWarnings("unchecked") Map<Object, Object> mm = (Map<Object, Object>) m;
                mm.put(a.get(1), a.get(2));
            } else {
                List<Object> l = mutable(c, "_set_item");
                l.set(Iteration.index(a.getLong(1), l.size()), a.get(2));
            }
            return c;
        });
    }

    static Tensor numToTensor(Object v) {
        return switch (v) {
            case Boolean b -> Tensor.scalar(b ? 1 : 0, DType.BOOL);
            case Long l -> Tensor.scalar(l, DType.I64);
            case Double d -> Tensor.scalar(d, DType.F64);
            case Tensor x -> x;
            case null, default -> throw new ScriptException("NumToTensor: expected a number, got " + Values.typeName(v));
        };
    }
}
