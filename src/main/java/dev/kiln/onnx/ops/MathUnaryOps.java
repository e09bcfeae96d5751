package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleUnaryOperator;
import java.util.function.LongUnaryOperator;

/**
 * Unary ONNX math ops and activations (registered by {@link MathOps}). Float inputs of ops the
 * engine has (Neg Abs Exp Log Sqrt Tanh Sigmoid Relu Sin Cos Reciprocal Erf Floor Ceil Round Sign,
 * Clip, Gelu) run on its vector kernels; the other ops and integer inputs are element loops in
 * double / exact long ({@link MathKernels}). Activation attributes take the spec's defaults.
 */
final class MathUnaryOps {
    private MathUnaryOps() {}

    static void register(OpRegistry r) {
        r.register("Neg", engine(UnaryOp.NEG, x -> -x, v -> -v));
        r.register("Abs", engine(UnaryOp.ABS, Math::abs, Math::abs));
        r.register("Relu", engine(UnaryOp.RELU, x -> x > 0 || x != x ? x : 0, v -> Math.max(v, 0)));
        r.register("Sign", engine(UnaryOp.SIGN, Math::signum, Long::signum));
        r.register("Exp", engine(UnaryOp.EXP, Math::exp, null));
        r.register("Log", engine(UnaryOp.LOG, Math::log, null));
        r.register("Sqrt", engine(UnaryOp.SQRT, Math::sqrt, null));
        r.register("Tanh", engine(UnaryOp.TANH, Math::tanh, null));
        r.register("Sigmoid", engine(UnaryOp.SIGMOID, x -> 1 / (1 + Math.exp(-x)), null));
        r.register("Sin", engine(UnaryOp.SIN, Math::sin, null));
        r.register("Cos", engine(UnaryOp.COS, Math::cos, null));
        r.register("Reciprocal", engine(UnaryOp.RECIPROCAL, x -> 1 / x, null));
        r.register("Erf", engine(UnaryOp.ERF, null, null));
        r.register("Floor", engine(UnaryOp.FLOOR, Math::floor, v -> v));
        r.register("Ceil", engine(UnaryOp.CEIL, Math::ceil, v -> v));
        r.register("Round", engine(UnaryOp.ROUND, Math::rint, v -> v));
        r.register("Tan", generic(Math::tan));
        r.register("Asin", generic(Math::asin));
        r.register("Acos", generic(Math::acos));
        r.register("Atan", generic(Math::atan));
        r.register("Sinh", generic(Math::sinh));
        r.register("Cosh", generic(Math::cosh));
        r.register("Asinh", generic(x -> x == Double.NEGATIVE_INFINITY ? x : Math.log(x + Math.sqrt(x * x + 1))));
        r.register("Acosh", generic(x -> Math.log(x + Math.sqrt(x * x - 1))));
        r.register("Atanh", generic(x -> 0.5 * Math.log((1 + x) / (1 - x))));
        r.register("Softsign", generic(x -> x / (1 + Math.abs(x))));
        r.register("Softplus", generic(x -> x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))));
        registerActivations(r);
        r.register("Clip", MathUnaryOps::clip);
        r.register("IsNaN", c -> MathOps.one(MathKernels.map(c.in(0), c.type(0), ElemType.BOOL, x -> x != x ? 1 : 0), ElemType.BOOL));
        r.register("IsInf", MathUnaryOps::isInf);
    }

    private static void registerActivations(OpRegistry r) {
        r.register("LeakyRelu", c -> {
            double a = c.attrFloat("alpha", 0.01f);
            return apply(c, x -> x < 0 ? a * x : x);
        });
        r.register("Elu", c -> {
            double a = c.attrFloat("alpha", 1f);
            return apply(c, x -> x < 0 ? a * Math.expm1(x) : x);
        });
        r.register("Selu", c -> {
            double a = c.attrFloat("alpha", 1.67326319217681884765625f), g = c.attrFloat("gamma", 1.05070102214813232421875f);
            return apply(c, x -> x <= 0 ? g * a * Math.expm1(x) : g * x);
        });
        r.register("Celu", c -> {
            double a = c.attrFloat("alpha", 1f);
            return apply(c, x -> Math.max(0, x) + Math.min(0, a * Math.expm1(x / a)));
        });
        r.register("HardSigmoid", c -> {
            double a = c.attrFloat("alpha", 0.2f), b = c.attrFloat("beta", 0.5f);
            return apply(c, x -> Math.max(0, Math.min(1, a * x + b)));
        });
        r.register("HardSwish", c -> apply(c, x -> x * Math.max(0, Math.min(1, x / 6 + 0.5))));
        r.register("ThresholdedRelu", c -> {
            double a = c.attrFloat("alpha", 1f);
            return apply(c, x -> x > a ? x : 0);
        });
        r.register("Shrink", c -> {
            double bias = c.attrFloat("bias", 0f), l = c.attrFloat("lambd", 0.5f);
            return apply(c, x -> x < -l ? x + bias : x > l ? x - bias : 0);
        });
        r.register("PRelu", c -> {
            ElemType t = MathOps.sameType(c, 0, 1);
            return MathOps.one(MathKernels.zip("PRelu", c.in(0), t, c.in(1), t, t, (x, s) -> x < 0 ? s * x : x), t);
        });
        OnnxOp gelu = c -> {
            String approx = c.attrString("approximate", "none");
            UnaryOp op = approx.equals("tanh") ? UnaryOp.GELU_TANH : UnaryOp.GELU;
            if (!c.type(0).isFloat()) throw c.error("input must be a float type, got " + c.type(0));
            return MathOps.one(Elementwise.unary(op, c.in(0), 0, 0), c.type(0));
        };
        r.register("Gelu", gelu);
        r.register("dev.kiln", "Gelu", gelu); // GraphOptimizer's fused erf GELU (GeluFusion)
    }

    /**
     * An op the engine has: float inputs run its kernel; integer inputs use {@code intOp} (exact,
     * wrapped to the type's width) or, when null, {@code dbl} with truncation back to the type.
     */
    private static OnnxOp engine(UnaryOp op, DoubleUnaryOperator dbl, LongUnaryOperator intOp) {
        return c -> {
            ElemType t = c.type(0);
            if (t.isFloat()) return MathOps.one(Elementwise.unary(op, c.in(0), 0, 0), t);
            if (intOp != null) return MathOps.one(MathKernels.mapLong(c.in(0), t, intOp), t);
            if (dbl == null || t == ElemType.BOOL) throw c.error("not defined for " + t + " inputs");
            return MathOps.one(MathKernels.map(c.in(0), t, t, dbl), t);
        };
    }

    private static OnnxOp generic(DoubleUnaryOperator f) { return c -> apply(c, f); }

    /** out = f(x) in double, the output of the input's type. */
    private static List<Value> apply(OpCall c, DoubleUnaryOperator f) {
        ElemType t = c.type(0);
        if (t == ElemType.BOOL) throw c.error("not defined for bool inputs");
        return MathOps.one(MathKernels.map(c.in(0), t, t, f), t);
    }

    /** Clip: min/max are attributes before opset 11, optional inputs from 11 on. */
    private static List<Value> clip(OpCall c) {
        ElemType t = c.type(0);
        Tensor x = c.in(0);
        double lo, hi;
        if (c.opset() < 11) {
            lo = c.attrFloat("min", Float.NEGATIVE_INFINITY);
            hi = c.attrFloat("max", Float.POSITIVE_INFINITY);
        } else {
            lo = c.has(1) ? bound(c, 1) : Double.NEGATIVE_INFINITY;
            hi = c.has(2) ? bound(c, 2) : Double.POSITIVE_INFINITY;
        }
        if (t != ElemType.UINT64 && t != ElemType.BOOL)
            return MathOps.one(Elementwise.unary(UnaryOp.CLAMP, x, lo, hi), t);
        return MathOps.one(MathKernels.map(x, t, t, v -> Math.min(Math.max(v, lo), hi)), t);
    }

    private static double bound(OpCall c, int i) {
        if (c.in(i).numel() != 1) throw c.error("input " + i + " must be a scalar, got shape " + dev.kiln.tensor.Shape.str(c.in(i).shape()));
        return MathKernels.doubles(c.in(i), c.type(i))[0];
    }

    private static List<Value> isInf(OpCall c) {
        boolean pos = c.attrInt("detect_positive", 1) != 0, neg = c.attrInt("detect_negative", 1) != 0;
        return MathOps.one(MathKernels.map(c.in(0), c.type(0), ElemType.BOOL,
                x -> (pos && x == Double.POSITIVE_INFINITY) || (neg && x == Double.NEGATIVE_INFINITY) ? 1 : 0), ElemType.BOOL);
    }

    private static Tensor viewOf(Tensor t) {
        return Tensor.of(t.storage(), t.dtype(), t.shape(), t.strides(), t.offset());
    }
}
