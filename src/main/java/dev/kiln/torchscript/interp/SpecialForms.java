package dev.kiln.torchscript.interp;

import dev.kiln.pickle.PyObject;
import dev.kiln.pickle.PyTuple;
import dev.kiln.tensor.Tensor;
import dev.kiln.torchscript.lang.Expr;

import java.util.List;
import java.util.Map;

/**
 * Calls whose arguments include a type or a name rather than a value: annotate(T, x),
 * unchecked_cast(T, x), uninitialized(T), isinstance(x, T), getattr(obj, "name"[, default]),
 * hasattr(obj, "name").
 */
final class SpecialForms {
    static final Object NOT_SPECIAL = new Object();

    private SpecialForms() {}

    static Object maybe(String name, Expr.Call c, Interpreter.Frame f, Evaluator ev, Interpreter in) {
        return switch (name) {
            case "annotate", "unchecked_cast" -> {
                arity(name, c, 2);
                Object v = ev.eval(c.args().get(1), f);
                yield name.equals("annotate") ? annotate(c.args().get(0), v) : v;
            }
            case "uninitialized" -> Refs.Uninitialized.VALUE;
            case "getattr" -> getattr(c, f, ev);
            case "hasattr" -> {
                arity(name, c, 2);
                Object obj = ev.eval(c.args().get(0), f);
                String attr = attrName(ev.eval(c.args().get(1), f));
                yield obj instanceof PyObject o && (o.state().containsKey(attr)
                        || in.classOf(o).constants().containsKey(attr) || in.classOf(o).method(attr) != null);
            }
            case "isinstance" -> {
                arity(name, c, 2);
                yield isInstance(ev.eval(c.args().get(0), f), c.args().get(1));
            }
            default -> NOT_SPECIAL;
        };
    }

    /**
     * annotate(number|int|float|bool, x) where x is a one-element Tensor: traced code passes the
     * tensors of size arithmetic (prim::NumToTensor) where a schema wants a Scalar, and the printer
     * writes the implicit conversion as annotate(number, t): give the number (int for integral
     * dtypes, float for floating ones; int()/float() force the type).
     */
    private static Object annotate(Expr type, Object v) {
        if (!(v instanceof Tensor t) || !(type instanceof Expr.Name n)) return v;
        return switch (n.id()) {
            case "number", "Scalar" -> PrimOps.item(t);
            case "int" -> Values.toLong(PrimOps.item(t), "annotate(int, ...)");
            case "float" -> Values.toDouble(PrimOps.item(t), "annotate(float, ...)");
            case "bool" -> Values.truthy(PrimOps.item(t));
            default -> v;
        };
    }

    private static Object getattr(Expr.Call c, Interpreter.Frame f, Evaluator ev) {
        if (c.args().size() < 2 || c.args().size() > 3) throw new ScriptException("getattr() takes 2 or 3 arguments");
        Object obj = ev.eval(c.args().get(0), f);
        String attr = attrName(ev.eval(c.args().get(1), f));
        if (c.args().size() == 3 && obj instanceof PyObject o && !o.state().containsKey(attr)) {
            try {
                return ev.attribute(obj, attr);
            } catch (ScriptException e) {
                return ev.eval(c.args().get(2), f);
            }
        }
        return ev.attribute(obj, attr);
    }

    private static String attrName(Object v) {
        if (v instanceof String s) return s;
        throw new ScriptException("attribute name must be a string, got " + Values.typeName(v));
    }

    private static void arity(String name, Expr.Call c, int n) {
        if (c.args().size() != n) throw new ScriptException(name + "() takes " + n + " arguments, got " + c.args().size());
    }

    /** isinstance for the types torch emits: Tensor, int, float, bool, str, List[..], Tuple[..], Dict, Optional, tuples of types. */
    static boolean isInstance(Object v, Expr type) {
        return switch (type) {
            case Expr.TupleExpr t -> t.items().stream().anyMatch(x -> isInstance(v, x));
            case Expr.Const c when c.value() == null -> v == null;
            case Expr.Subscript s -> {
                String base = typeName(s.value());
                yield switch (base) {
                    case "List" -> v instanceof List<?> && !(v instanceof PyTuple);
                    case "Tuple" -> v instanceof PyTuple;
                    case "Dict" -> v instanceof Map<?, ?>;
                    case "Optional" -> v == null || isInstance(v, s.index());
                    default -> false;
                };
            }
            default -> switch (typeName(type)) {
                case "Tensor" -> v instanceof Tensor;
                case "int" -> v instanceof Long;
                case "float" -> v instanceof Double;
                case "bool" -> v instanceof Boolean;
                case "str" -> v instanceof String;
                case "NoneType" -> v == null;
                case "list", "List" -> v instanceof List<?> && !(v instanceof PyTuple);
                case "tuple", "Tuple" -> v instanceof PyTuple;
                case "dict", "Dict" -> v instanceof Map<?, ?>;
                default -> v instanceof PyObject o && o.className().equals(typeName(type));
            };
        };
    }

    private static String typeName(Expr e) {
        return switch (e) {
            case Expr.Name n -> n.id();
            case Expr.Attribute a -> typeName(a.value()) + "." + a.attr();
            default -> "?";
        };
    }
}
