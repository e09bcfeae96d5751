package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.lang.ClassDef;
import dev.kiln.torchscript.lang.Expr;
import dev.kiln.torchscript.lang.FunctionDef;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Evaluates expressions for the {@link Interpreter}: names and the global namespaces (torch, ops,
 * __torch__, CONSTANTS, math), attribute access on modules and tensors, calls (script functions,
 * methods, table ops, and the special forms annotate / unchecked_cast / uninitialized / getattr /
 * hasattr / isinstance), subscripts and slices, and operators (mapped to the same table ops as
 * torch.add, torch.eq, ...).
 */
final class Evaluator {
    private static final Set<String> NAMESPACES = Set.of("torch", "ops", "__torch__", "CONSTANTS", "math", "builtins",
            "typing", "__builtins__");
    private static final Map<String, String> BINOPS = Map.ofEntries(
            Map.entry("+", "torch.add"), Map.entry("-", "torch.sub"), Map.entry("*", "torch.mul"),
            Map.entry("/", "torch.div"), Map.entry("//", "torch.floordiv"), Map.entry("%", "torch.remainder"),
            Map.entry("**", "torch.pow"), Map.entry("@", "torch.matmul"), Map.entry("&", "torch.__and__"),
            Map.entry("|", "torch.__or__"), Map.entry("^", "torch.__xor__"), Map.entry("<<", "torch.__lshift__"),
            Map.entry(">>", "torch.__rshift__"));
    private static final Map<String, String> COMPARES = Map.of("==", "torch.eq", "!=", "torch.ne", "<", "torch.lt",
            "<=", "torch.le", ">", "torch.gt", ">=", "torch.ge");

    private final Interpreter in;

    Evaluator(Interpreter in) { this.in = in; }

    Object eval(Expr e, Interpreter.Frame f) {
        return switch (e) {
            case Expr.Const c -> c.value();
            case Expr.Name n -> name(n, f);
            case Expr.Attribute a -> attribute(eval(a.value(), f), a.attr());
            case Expr.Call c -> call(c, f);
            case Expr.Subscript s -> subscript(s, f);
            case Expr.TupleExpr t -> new PyTuple(evalAll(t.items(), f));
            case Expr.ListExpr l -> evalAll(l.items(), f);
            case Expr.DictExpr d -> {
                Map<Object, Object> m = new LinkedHashMap<>();
                for (int i = 0; i < d.keys().size(); i++) m.put(eval(d.keys().get(i), f), eval(d.values().get(i), f));
                yield m;
            }
            case Expr.BinOp b -> binary(b.op(), eval(b.left(), f), eval(b.right(), f));
            case Expr.Unary u -> unary(u.op(), eval(u.operand(), f));
            case Expr.Compare c -> compare(c, f);
            case Expr.BoolOp b -> boolOp(b, f);
            case Expr.IfExp i -> Values.truthy(eval(i.test(), f)) ? eval(i.body(), f) : eval(i.orelse(), f);
            case Expr.Slice s -> throw new ScriptException("a slice is only allowed inside []");
        };
    }

    private List<Object> evalAll(List<Expr> items, Interpreter.Frame f) {
        List<Object> out = new ArrayList<>(items.size());
        for (Expr x : items) out.add(eval(x, f));
        return out;
    }

    private Object name(Expr.Name n, Interpreter.Frame f) {
        String id = n.id();
        if (f.vars.containsKey(id)) return f.vars.get(id);
        if (NAMESPACES.contains(id)) return new Refs.Namespace(id);
        if (id.equals("inf")) return Double.POSITIVE_INFINITY;
        if (id.equals("nan")) return Double.NaN;
        if (in.ops.has("builtins." + id)) return new Refs.BuiltinRef("builtins." + id);
        throw new ScriptException("name '" + id + "' is not defined");
    }

    Object attribute(Object obj, String attr) {
        return switch (obj) {
            case Refs.Namespace ns -> namespaceAttr(ns.path(), attr);
            case PyObject o -> in.moduleAttr(o, attr);
            case Tensor t -> TensorAttrs.get(t, attr);
            case Refs.Device d when attr.equals("type") -> d.type();
            case null, default -> throw new ScriptException("'" + Values.typeName(obj) + "' has no attribute '" + attr + "'");
        };
    }

    private Object namespaceAttr(String path, String attr) {
        if (path.equals("CONSTANTS")) {
            if (!attr.matches("c\\d{1,9}")) throw new ScriptException("bad constant name CONSTANTS." + attr);
            int i = Integer.parseInt(attr.substring(1));
            if (i >= in.constants.size())
                throw new ScriptException("CONSTANTS." + attr + " is missing (the archive has " + in.constants.size() + ")");
            return in.constants.get(i);
        }
        String full = path + "." + attr;
        Object constant = TensorAttrs.namedConstant(full);
        if (constant != null) return constant;
        if (full.startsWith("__torch__.")) {
            FunctionDef fn = in.code.function(full);
            if (fn != null) return new Refs.ScriptFunction(fn);
            ClassDef c = in.code.classDef(full);
            if (c != null) return new Refs.ClassRef(c);
        }
        return new Refs.Namespace(full);
    }

    private Object call(Expr.Call c, Interpreter.Frame f) {
        if (c.func() instanceof Expr.Name n && !f.vars.containsKey(n.id())) {
            Object special = SpecialForms.maybe(n.id(), c, f, this, in);
            if (special != SpecialForms.NOT_SPECIAL) return special;
        }
        Object fn;
        if (c.func() instanceof Expr.Attribute a) { // the receiver is evaluated once
            Object receiver = eval(a.value(), f);
            if (!(receiver instanceof Refs.Namespace) && !(receiver instanceof PyObject))
                return methodCall(receiver, a.attr(), evalAll(c.args(), f), kwargs(c, f));
            fn = attribute(receiver, a.attr());
        } else {
            fn = eval(c.func(), f);
        }
        return callValue(fn, evalAll(c.args(), f), kwargs(c, f));
    }

    private Map<String, Object> kwargs(Expr.Call c, Interpreter.Frame f) {
        if (c.keywords().isEmpty()) return Map.of();
        Map<String, Object> kw = new LinkedHashMap<>();
        for (Expr.Keyword k : c.keywords()) kw.put(k.name(), eval(k.value(), f));
        return kw;
    }

    Object callValue(Object fn, List<Object> args, Map<String, Object> kwargs) {
        return switch (fn) {
            case Refs.ScriptFunction sf -> in.invoke(sf.def(), null, args, kwargs);
            case Refs.BoundMethod bm -> in.invoke(bm.def(), bm.self(), args, kwargs);
            case Refs.BuiltinRef b -> in.ops.call(b.name(), args, kwargs);
            case Refs.Namespace ns -> {
                if (!in.ops.has(ns.path())) throw new ScriptException("unsupported TorchScript op " + ns.path());
                yield in.ops.call(ns.path(), args, kwargs);
            }
            case PyObject o -> in.invoke(forward(o), o, args, kwargs);
            case Refs.ClassRef cr -> throw new ScriptException("constructing script class " + cr.def().qualifiedName()
                    + " is not supported");
            case null, default -> throw new ScriptException("'" + Values.typeName(fn) + "' object is not callable");
        };
    }

    private FunctionDef forward(PyObject o) {
        FunctionDef f = in.classOf(o).method("forward");
        if (f == null) throw new ScriptException("module " + o.className() + " has no forward method");
        return f;
    }

    /** receiver.name(args) for a tensor, list, str or dict: the table op with the receiver first. */
    private Object methodCall(Object receiver, String name, List<Object> args, Map<String, Object> kwargs) {
        List<Object> all = new ArrayList<>(args.size() + 1);
        all.add(receiver);
        all.addAll(args);
        String kind = receiver instanceof List<?> && !(receiver instanceof PyTuple) ? "list."
                : receiver instanceof String ? "str." : receiver instanceof Map<?, ?> ? "dict." : null;
        if (kind != null && in.ops.has(kind + name)) return in.ops.call(kind + name, all, kwargs);
        if (in.ops.has("torch." + name)) return in.ops.call("torch." + name, all, kwargs);
        throw new ScriptException("unsupported method " + Values.typeName(receiver) + "." + name + "()");
    }

    private Object subscript(Expr.Subscript s, Interpreter.Frame f) {
        Object v = eval(s.value(), f);
        if (v instanceof Tensor t) return TensorIndexing.index(t, indexParts(s.index(), f));
        if (s.index() instanceof Expr.Slice sl) return Sequences.slice(v, sliceBound(sl.lower(), f),
                sliceBound(sl.upper(), f), sliceBound(sl.step(), f));
        return Sequences.getItem(v, eval(s.index(), f));
    }

    private Long sliceBound(Expr e, Interpreter.Frame f) {
        if (e == null) return null;
        Object v = eval(e, f);
        return v == null ? null : Values.toLong(v, "slice index");
    }

    /** The parts of a tensor index: Long, Slice (as a long[3] with nulls kept as Long.MIN_VALUE), null (None), Tensor. */
    private List<Object> indexParts(Expr index, Interpreter.Frame f) {
        List<Expr> parts = index instanceof Expr.TupleExpr t ? t.items() : List.of(index);
        List<Object> out = new ArrayList<>();
        for (Expr p : parts) {
            if (p instanceof Expr.Slice sl) {
                out.add(new TensorIndexing.SliceSpec(sliceBound(sl.lower(), f), sliceBound(sl.upper(), f),
                        sliceBound(sl.step(), f)));
            } else {
                out.add(eval(p, f));
            }
        }
        return out;
    }

    Object binary(String op, Object a, Object b) {
        String name = BINOPS.get(op);
        if (name == null) throw new ScriptException("unsupported operator " + op);
        return in.ops.call(name, List.of(a, b), Map.of());
    }

    private Object unary(String op, Object v) {
        return switch (op) {
            case "not" -> !Values.truthy(v);
            case "-" -> in.ops.call("torch.neg", List.of(v), Map.of());
            case "+" -> v;
            case "~" -> in.ops.call("torch.bitwise_not", List.of(v), Map.of());
            default -> throw new ScriptException("unsupported unary operator " + op);
        };
    }

    private Object compare(Expr.Compare c, Interpreter.Frame f) {
        Object left = eval(c.operands().get(0), f);
        Object result = Boolean.TRUE;
        for (int i = 0; i < c.ops().size(); i++) {
            Object right = eval(c.operands().get(i + 1), f);
            result = compareOne(c.ops().get(i), left, right);
            if (c.ops().size() > 1 && !Values.truthy(result)) return Boolean.FALSE;
            left = right;
        }
        return result;
    }

    Object compareOne(String op, Object a, Object b) {
        return switch (op) {
            case "is" -> PrimOps.is(a, b);
            case "is not" -> !PrimOps.is(a, b);
            case "in" -> in.ops.call("torch.__contains__", List.of(b, a), Map.of());
            case "not in" -> !Values.truthy(in.ops.call("torch.__contains__", List.of(b, a), Map.of()));
            default -> in.ops.call(COMPARES.get(op), List.of(a, b), Map.of());
        };
    }

    private Object boolOp(Expr.BoolOp b, Interpreter.Frame f) {
        Object v = null;
        for (Expr x : b.values()) {
            v = eval(x, f);
            boolean t = Values.truthy(v);
            if (b.op().equals("and") ? !t : t) return v;
        }
        return v;
    }
}
