package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.BinaryOp;
import dev.kiln.ops.Elementwise;
import dev.kiln.tensor.Tensor;

import java.util.List;
import java.util.function.LongBinaryOperator;

/**
 * ONNX ops of the MathOps family (see {@link OpFamilies}): binary arithmetic (Add Sub Mul Div Pow
 * Mod), variadic Max/Min/Sum/Mean, comparisons, logic (And Or Xor Not), BitShift and Where here;
 * unary math and activations in {@link MathUnaryOps}; Cast/CastLike in {@link MathCast}.
 *
 * <p>Float types and the plain integer storage types run on the engine's elementwise kernels
 * (broadcasting, vector code). Integer cases whose ONNX semantics differ from the engine's (C
 * truncating division, Python-style modulo, wrapping at uint8/int16/uint16/uint32 width,
 * unsigned uint64) run as exact long loops in {@link MathKernels}.
 */
final class MathOps {
    private MathOps() {}

    static void register(OpRegistry r) {
        r.register("Add", arith(BinaryOp.ADD));
        r.register("Sub", arith(BinaryOp.SUB));
        r.register("Mul", arith(BinaryOp.MUL));
        r.register("Div", arith(BinaryOp.DIV));
        r.register("Pow", MathOps::pow);
        r.register("Mod", MathOps::mod);
        r.register("Max", c -> variadic(c, BinaryOp.MAX));
        r.register("Min", c -> variadic(c, BinaryOp.MIN));
        r.register("Sum", c -> variadic(c, BinaryOp.ADD));
        r.register("Mean", MathOps::mean);
        r.register("Equal", compare(BinaryOp.EQ));
        r.register("Greater", compare(BinaryOp.GT));
        r.register("GreaterOrEqual", compare(BinaryOp.GE));
        r.register("Less", compare(BinaryOp.LT));
        r.register("LessOrEqual", compare(BinaryOp.LE));
        r.register("And", logic((x, y) -> x & y));
        r.register("Or", logic((x, y) -> x | y));
        r.register("Xor", logic((x, y) -> x ^ y));
        r.register("Not", c -> one(MathKernels.mapLong(c.in(0), ElemType.BOOL, v -> v == 0 ? 1 : 0), ElemType.BOOL));
        r.register("BitShift", MathOps::bitShift);
        r.register("Where", MathOps::where);
        MathUnaryOps.register(r);
        MathCast.register(r);
    }

    static List<Value> one(Tensor t, ElemType type) { return List.of(Value.of(t, type)); }

    /** Input types must agree (ONNX's type constraint T for both operands). */
    static ElemType sameType(OpCall c, int i, int j) {
        ElemType a = c.type(i), b = c.type(j);
        if (a != b) throw c.error("input types differ: " + a + " and " + b);
        return a;
    }

    /** Whether the engine's integer kernels match ONNX on this type (exact storage width, signed). */
    static boolean engineInt(ElemType t) {
        return t == ElemType.INT8 || t == ElemType.INT32 || t == ElemType.INT64;
    }

    // ------------------------------------------------------------------ arithmetic

    private static OnnxOp arith(BinaryOp op) {
        return c -> {
            ElemType t = sameType(c, 0, 1);
            Tensor a = c.in(0), b = c.in(1);
            if (t.isFloat() || (engineInt(t) && op != BinaryOp.DIV)) return one(Elementwise.binary(op, a, b), t);
            String name = c.node().opType();
            boolean u64 = t == ElemType.UINT64;
            return one(MathKernels.zipLong(name, a, b, t, switch (op) {
                case ADD -> Long::sum;
                case SUB -> (x, y) -> x - y;
                case MUL -> (x, y) -> x * y;
                default -> (x, y) -> y == 0 ? 0 : u64 ? Long.divideUnsigned(x, y) : x / y;
            }), t);
        };
    }

    /** Pow(X: T, Y: T1) -> T; integer bases are exact (integer exponent) or truncated. */
    private static List<Value> pow(OpCall c) {
        ElemType tx = c.type(0), ty = c.type(1);
        Tensor x = c.in(0), y = c.in(1);
        if (tx.isFloat() && ty.isFloat() && y.numel() == 1 && y.dim() <= x.dim()) {
            // a scalar exponent (x^2 in a written-out LayerNorm): the scalar-exponent kernel, exact for
            // small integer and half exponents (x * x) instead of the log/exp passes
            return one(Elementwise.unary(dev.kiln.ops.UnaryOp.POW_SCALAR, x, y.toDoubleArray()[0], 0), tx);
        }
        if (tx.isFloat()) {
            Tensor yc = ty == tx ? y : MathKernels.cast(y, ty, tx);
            Tensor out = Elementwise.binary(BinaryOp.POW, x, yc);
            if (yc != y) yc.close();
            return one(out, tx);
        }
        if (ty.isFloat())
            return one(MathKernels.zip("Pow", x, tx, y, ty, tx, Math::pow), tx);
        return one(MathKernels.zipLong("Pow", x, y, tx, MathKernels::ipow), tx);
    }

    /** Mod: fmod = 0 takes the divisor's sign (Python), fmod = 1 the dividend's (C fmod). */
    private static List<Value> mod(OpCall c) {
        ElemType t = sameType(c, 0, 1);
        boolean fmod = c.attrInt("fmod", 0) != 0;
        Tensor a = c.in(0), b = c.in(1);
        if (t.isFloat()) {
            return one(MathKernels.zip("Mod", a, t, b, t, t, (x, y) -> {
                double r = x % y;
                return !fmod && r != 0 && (r < 0) != (y < 0) ? r + y : r;
            }), t);
        }
        boolean u64 = t == ElemType.UINT64;
        return one(MathKernels.zipLong("Mod", a, b, t, (x, y) -> {
            if (y == 0) return 0;
            if (u64) return Long.remainderUnsigned(x, y);
            return fmod ? x % y : Math.floorMod(x, y);
        }), t);
    }

    // ------------------------------------------------------------------ variadic

    /** Max / Min / Sum over 1..n inputs with multidirectional broadcasting. */
    private static List<Value> variadic(OpCall c, BinaryOp op) {
        ElemType t = c.type(0);
        for (int i = 1; i < c.inputCount(); i++) sameType(c, 0, i);
        Tensor acc = c.in(0).clone();
        for (int i = 1; i < c.inputCount(); i++) {
            Tensor next = combine(c, op, t, acc, c.in(i));
            acc.close();
            acc = next;
        }
        return one(acc, t);
    }

    private static Tensor combine(OpCall c, BinaryOp op, ElemType t, Tensor a, Tensor b) {
        boolean engine = t.isFloat() || engineInt(t) || (op != BinaryOp.ADD && t != ElemType.UINT64);
        if (engine) return Elementwise.binary(op, a, b);
        LongBinaryOperator f = switch (op) {
            case MAX -> (x, y) -> Long.compareUnsigned(x, y) >= 0 ? x : y;
            case MIN -> (x, y) -> Long.compareUnsigned(x, y) <= 0 ? x : y;
            default -> Long::sum;
        };
        return MathKernels.zipLong(c.node().opType(), a, b, t, f);
    }

    private static List<Value> mean(OpCall c) {
        ElemType t = c.type(0);
        List<Value> sum = variadic(c, BinaryOp.ADD);
        Tensor s = sum.get(0).tensor();
        int n = c.inputCount();
        Tensor out = t.isFloat() ? s.div(n) : MathKernels.mapLong(s, t, v -> v / n);
        s.close();
        return one(out, t);
    }

    // ------------------------------------------------------------------ comparisons and logic

    private static OnnxOp compare(BinaryOp op) {
        return c -> {
            ElemType t = sameType(c, 0, 1);
            Tensor a = c.in(0), b = c.in(1);
            if (t != ElemType.UINT64) return one(Elementwise.binary(op, a, b), ElemType.BOOL);
            return one(MathKernels.zipLong(c.node().opType(), a, b, ElemType.BOOL, (x, y) -> {
                int r = Long.compareUnsigned(x, y);
                boolean v = switch (op) {
                    case EQ -> r == 0;
                    case GT -> r > 0;
                    case GE -> r >= 0;
                    case LT -> r < 0;
                    default -> r <= 0;
                };
                return v ? 1 : 0;
            }), ElemType.BOOL);
        };
    }

    private static OnnxOp logic(LongBinaryOperator f) {
        return c -> one(MathKernels.zipLong(c.node().opType(), c.in(0), c.in(1), ElemType.BOOL,
                (x, y) -> f.applyAsLong(x != 0 ? 1 : 0, y != 0 ? 1 : 0)), ElemType.BOOL);
    }

    /** BitShift on unsigned types: LEFT wraps at the type's width; shifts of 64 or more give 0. */
    private static List<Value> bitShift(OpCall c) {
        ElemType t = sameType(c, 0, 1);
        String dir = c.attrString("direction", "");
        boolean left = dir.equals("LEFT");
        if (!left && !dir.equals("RIGHT")) throw c.error("direction must be LEFT or RIGHT, got '" + dir + "'");
        return one(MathKernels.zipLong("BitShift", c.in(0), c.in(1), t, (x, s) -> {
            if (s < 0 || s >= 64) return 0;
            return left ? x << s : x >>> s;
        }), t);
    }

    private static List<Value> where(OpCall c) {
        ElemType t = sameType(c, 1, 2);
        Tensor cond = c.in(0);
        if (c.type(0) != ElemType.BOOL) throw c.error("condition must be bool, got " + c.type(0));
        return one(Elementwise.where(cond, c.in(1), c.in(2)), t);
    }
}
