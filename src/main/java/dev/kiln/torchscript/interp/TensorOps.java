package dev.kiln.torchscript.interp;

import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.DType;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * Arithmetic, comparison and elementwise ops. Each works on tensors (Kiln's Elementwise kernels,
 * with PyTorch's rule that a 0-d tensor or a Python scalar does not widen a dimensioned tensor's
 * float type) and on Python scalars, strings and lists where TorchScript allows it (torch.add on
 * ints, str concatenation, list concatenation).
 */
final class TensorOps {
    private TensorOps() {}

    static void register(OpTable t) {
        arithmetic(t);
        comparisons(t);
        unaries(t);
        ReduceOps.register(t);
    }

    private static void arithmetic(OpTable t) {
        t.add("add", "self, other, alpha", a -> addSub(a, BinaryOp.ADD));
        t.add("add_", "self, other, alpha", a -> addSub(a, BinaryOp.ADD));
        t.add("sub", "self, other, alpha", a -> addSub(a, BinaryOp.SUB));
        t.add("sub_", "self, other, alpha", a -> addSub(a, BinaryOp.SUB));
        t.add("rsub", "self, other, alpha", a -> binary(BinaryOp.SUB, scaled(a.get(1), a.get(2, null)), a.get(0)));
        t.add("mul", "self, other", a -> binary(BinaryOp.MUL, a.get(0), a.get(1)));
        t.add("mul_", "self, other", a -> binary(BinaryOp.MUL, a.get(0), a.get(1)));
        t.add("div", "self, other, rounding_mode", TensorOps::div);
        t.add("div_", "self, other, rounding_mode", TensorOps::div);
        t.add("true_divide", "self, other", a -> binary(BinaryOp.DIV, a.get(0), a.get(1)));
        t.add("floordiv", "self, other", a -> roundedDiv(a.get(0), a.get(1), "floor"));
        t.add("floor_divide", "self, other", a -> roundedDiv(a.get(0), a.get(1), "floor"));
        t.add("remainder", "self, other", TensorOps::remainder);
        t.add("fmod", "self, other", TensorOps::remainder);
        t.add("pow", "self, exponent", a -> pow(a.get(0), a.get(1)));
        t.add("maximum", "self, other", a -> binary(BinaryOp.MAX, a.get(0), a.get(1)));
        t.add("minimum", "self, other", a -> binary(BinaryOp.MIN, a.get(0), a.get(1)));
        t.add("__and__", "self, other", a -> logical(a, "and"));
        t.add("__or__", "self, other", a -> logical(a, "or"));
        t.add("__xor__", "self, other", a -> logical(a, "xor"));
        t.add("logical_and", "self, other", a -> logical(a, "and"));
        t.add("logical_or", "self, other", a -> logical(a, "or"));
        t.add("logical_xor", "self, other", a -> logical(a, "xor"));
        t.add("__lshift__", "self, other", a -> Scalars.arith("lshift", a.get(0), a.get(1)));
        t.add("__rshift__", "self, other", a -> Scalars.arith("rshift", a.get(0), a.get(1)));
    }

    private static Object addSub(Args a, BinaryOp op) {
        Object x = a.get(0), y = a.get(1);
        if (!(x instanceof Tensor) && !(y instanceof Tensor)) {
            if (op == BinaryOp.ADD && x instanceof String s) return s + Values.str(y);
            if (op == BinaryOp.ADD && (x instanceof List<?> || x instanceof dev.kiln.pickle.PyTuple)) {
                List<Object> out = new ArrayList<>(Values.items(x, "add"));
                out.addAll(Values.items(y, "add"));
                return x instanceof dev.kiln.pickle.PyTuple ? new dev.kiln.pickle.PyTuple(out) : out;
            }
        }
        return binary(op, x, scaled(y, a.get(2, null)));
    }

    /** other * alpha (alpha absent or 1: other itself). */
    private static Object scaled(Object other, Object alpha) {
        if (alpha == null || (Values.isNumber(alpha) && Values.toDouble(alpha, "alpha") == 1)) return other;
        return binary(BinaryOp.MUL, other, alpha);
    }

    /** op on two values: tensors broadcast; a scalar operand takes the tensor's dtype category rules. */
    static Object binary(BinaryOp op, Object x, Object y) {
        if (x instanceof Tensor a && y instanceof Tensor b) return tensorBinary(op, a, b);
        if (x instanceof Tensor a) return tensorScalar(op, a, y, false);
        if (y instanceof Tensor b) return tensorScalar(op, b, x, true);
        String name = switch (op) {
            case ADD -> "add";
            case SUB -> "sub";
            case MUL -> "mul";
            case DIV -> "div";
            case MAX -> "max";
            case MIN -> "min";
            case POW -> "pow";
            default -> throw new ScriptException(op.name().toLowerCase() + ": unsupported for scalars");
        };
        return Scalars.arith(name, x, y);
    }

    private static int category(DType t) { return t == DType.BOOL ? 0 : t.isFloating() ? 2 : 1; }

    static Tensor tensorBinary(BinaryOp op, Tensor a, Tensor b) {
        if (a.dim() == 0 && b.dim() > 0 && category(a.dtype()) <= category(b.dtype()) && a.dtype() != b.dtype())
            a = a.to(b.dtype());
        else if (b.dim() == 0 && a.dim() > 0 && category(b.dtype()) <= category(a.dtype()) && a.dtype() != b.dtype())
            b = b.to(a.dtype());
        return Elementwise.binary(op, a, b);
    }

    private static Tensor tensorScalar(BinaryOp op, Tensor t, Object s, boolean scalarFirst) {
        if (!Values.isNumber(s)) throw new ScriptException(op.name().toLowerCase() + ": cannot combine a Tensor with "
                + Values.typeName(s));
        DType dt = t.dtype();
        if (s instanceof Double && category(dt) < 2) dt = DType.F32;
        else if (s instanceof Long && dt == DType.BOOL && !op.isComparison()) dt = DType.I64;
        Tensor tt = dt == t.dtype() ? t : t.to(dt);
        Tensor st = Tensor.scalar(Values.toDouble(s, op.name()), dt == DType.BOOL ? DType.BOOL : dt);
        return scalarFirst ? Elementwise.binary(op, st, tt) : Elementwise.binary(op, tt, st);
    }

    private static Object div(Args a) {
        String mode = a.getString(2, null);
        if (mode == null) return binary(BinaryOp.DIV, a.get(0), a.get(1));
        if (!mode.equals("trunc") && !mode.equals("floor")) throw a.error("unknown rounding_mode '" + mode + "'");
        return roundedDiv(a.get(0), a.get(1), mode);
    }

    /** Division rounded toward zero (trunc) or down (floor); integer inputs keep an integer result. */
    private static Object roundedDiv(Object x, Object y, String mode) {
        if (!(x instanceof Tensor) && !(y instanceof Tensor)) {
            if (mode.equals("floor")) return Scalars.arith("floordiv", x, y);
            Object q = Scalars.arith("div", x, y);
            double d = Values.toDouble(q, "div");
            return x instanceof Double || y instanceof Double ? (Object) (double) (long) d : (Object) (long) d;
        }
        Tensor q = Values.tensor(binary(BinaryOp.DIV, x, y), "div");
        DType want = resultType(x, y);
        DoubleUnaryOperator r = mode.equals("floor") ? Math::floor : d -> d < 0 ? Math.ceil(d) : Math.floor(d);
        return map(q, r, want);
    }

    private static DType resultType(Object x, Object y) {
        DType a = x instanceof Tensor t ? t.dtype() : x instanceof Double ? DType.F32 : DType.I64;
        DType b = y instanceof Tensor t ? t.dtype() : y instanceof Double ? DType.F32 : DType.I64;
        if (x instanceof Tensor t && !(y instanceof Tensor)) return category(a) >= category(b) ? a : b;
        if (y instanceof Tensor t && !(x instanceof Tensor)) return category(b) >= category(a) ? b : a;
        return DType.promote(a, b);
    }

    private static Object remainder(Args a) {
        Object x = a.get(0), y = a.get(1);
        if (!(x instanceof Tensor) && !(y instanceof Tensor)) return Scalars.arith("remainder", x, y);
        Tensor fl = Values.tensor(roundedDiv(x, y, "floor"), "remainder");
        return binary(BinaryOp.SUB, x, binary(BinaryOp.MUL, fl, y));
    }

    private static Object pow(Object x, Object y) {
        if (x instanceof Tensor t && Values.isNumber(y) && t.dtype().isFloating())
            return t.pow(Values.toDouble(y, "pow"));
        return binary(BinaryOp.POW, x, y);
    }

    private static Object logical(Args a, String op) {
        Object x = a.get(0), y = a.get(1);
        if (!(x instanceof Tensor) && !(y instanceof Tensor)) {
            if (x instanceof Boolean p && y instanceof Boolean q)
                return op.equals("and") ? p && q : op.equals("or") ? p || q : p ^ q;
            return Scalars.arith(op, x, y);
        }
        Tensor p = asBool(x), q = asBool(y);
        Tensor pi = p.to(DType.I32), qi = q.to(DType.I32);
        Tensor r = switch (op) {
            case "and" -> pi.mul(qi);
            case "or" -> pi.add(qi);
            default -> pi.ne(qi);
        };
        return r.ne(Tensor.scalar(0, r.dtype()));
    }

    private static Tensor asBool(Object v) {
        if (v instanceof Tensor t) return t.dtype() == DType.BOOL ? t : t.ne(Tensor.scalar(0, t.dtype()));
        return Tensor.scalar(Values.truthy(v) ? 1 : 0, DType.BOOL);
    }

    private static void comparisons(OpTable t) {
        compare(t, "eq", BinaryOp.EQ);
        compare(t, "ne", BinaryOp.NE);
        compare(t, "lt", BinaryOp.LT);
        compare(t, "le", BinaryOp.LE);
        compare(t, "gt", BinaryOp.GT);
        compare(t, "ge", BinaryOp.GE);
    }

    private static void compare(OpTable t, String name, BinaryOp op) {
        t.add(name, "self, other", a -> {
            Object x = a.get(0), y = a.get(1);
            if (x instanceof Tensor || y instanceof Tensor) return binary(op, x, y);
            return switch (op) {
                case EQ -> Values.pyEquals(x, y);
                case NE -> !Values.pyEquals(x, y);
                default -> Scalars.order(name, x, y);
            };
        });
    }

    private static void unaries(OpTable t) {
        for (UnaryOp op : UnaryOp.values())     // the engine's ops, under their aten names (UnaryOp.names)
            for (String name : op.names().torchscript()) unary(t, name, op);
        t.add("gelu", "self, approximate", a -> {
            String approx = a.getString(1, "none");
            return Elementwise.unary(approx.equals("tanh") ? UnaryOp.GELU_TANH : UnaryOp.GELU, a.tensor(0), 0, 0);
        });
        t.add("clamp", "self, min, max", a -> clamp(a.tensor(0), a.get(1, null), a.get(2, null)));
        t.add("clamp_", "self, min, max", a -> clamp(a.tensor(0), a.get(1, null), a.get(2, null)));
        t.add("clip", "self, min, max", a -> clamp(a.tensor(0), a.get(1, null), a.get(2, null)));
        t.add("clamp_min", "self, min", a -> clamp(a.tensor(0), a.get(1), null));
        t.add("clamp_max", "self, max", a -> clamp(a.tensor(0), null, a.get(1)));
        t.add("hardtanh", "self, min_val, max_val", a -> a.tensor(0).clamp(a.getDouble(1, -1), a.getDouble(2, 1)));
        t.add("relu6", "self", a -> a.tensor(0).clamp(0, 6));
        t.add("leaky_relu", "self, negative_slope", a -> leakyRelu(a.tensor(0), a.getDouble(1, 0.01)));
        t.add("bitwise_not", "self", a -> {
            Object v = a.get(0);
            if (v instanceof Tensor x && x.dtype() == DType.BOOL) return x.eq(Tensor.scalar(0, DType.BOOL));
            if (v instanceof Tensor x) return map(x, d -> ~(long) d, x.dtype());
            return ~Values.toLong(v, "bitwise_not");
        });
        t.add("logical_not", "self", a -> asBool(a.get(0)).eq(Tensor.scalar(0, DType.BOOL)));
    }

    private static void unary(OpTable t, String name, UnaryOp op) {
        t.add(name, "self", a -> a.get(0) instanceof Tensor x ? Elementwise.unary(op, x, 0, 0)
                : Scalars.unary(name.replace("_", ""), a.get(0)));
    }

    private static Tensor clamp(Tensor x, Object lo, Object hi) {
        double min = lo == null ? Double.NEGATIVE_INFINITY : Values.toDouble(lo, "clamp min");
        double max = hi == null ? Double.POSITIVE_INFINITY : Values.toDouble(hi, "clamp max");
        return x.clamp(min, max);
    }

    private static Tensor leakyRelu(Tensor x, double slope) {
        Tensor pos = x.relu();
        Tensor neg = x.clamp(Double.NEGATIVE_INFINITY, 0).mul(slope);
        return pos.add(neg);
    }

    /** A generic elementwise fallback through doubles, for rare ops without a kernel. */
    static Tensor map(Tensor x, DoubleUnaryOperator f, DType out) {
        double[] v = x.toDoubleArray();
        for (int i = 0; i < v.length; i++) v[i] = f.applyAsDouble(v[i]);
        return Tensor.fromDoubles(out, v, x.shape());
    }

}
