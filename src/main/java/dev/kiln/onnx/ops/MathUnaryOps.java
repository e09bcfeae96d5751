package dev.kiln.onnx.ops;

import dev.kiln.onnx.ElemType;
import dev.kiln.onnx.Value;
import dev.kiln.ops.Elementwise;
import dev.kiln.ops.UnaryOp;
import dev.kiln.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * Unary ONNX math ops and activations (registered by {@link MathOps}). Float inputs of ops the
 * engine has (every {@link UnaryOp} with an ONNX name, Clip, Gelu) run on its kernels; the other
 * ops and integer inputs are element loops in double / exact long ({@link MathKernels}). Activation attributes take the spec's defaults.
 */
final class MathUnaryOps {
    private MathUnaryOps() {}

    static void register(OpRegistry r) {
        for (UnaryOp op : UnaryOp.values())     // the engine's ops, under their ONNX names (UnaryOp.names)
            if (op.names().onnx() != null) r.register(op.names().onnx(), engine(op));
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
    /**
     * op on the engine's kernels for float inputs; integer inputs (every ONNX integer type) in exact
     * long arithmetic where the op keeps integer types, else through its float64 reference.
     */
    private static OnnxOp engine(UnaryOp op) {
        return c -> {
            ElemType t = c.type(0);
            if (t.isFloat()) return MathOps.one(Elementwise.unary(op, c.in(0), 0, 0), t);
            if (op.keepsIntType()) return MathOps.one(MathKernels.mapLong(c.in(0), t, v -> op.onInt(v, 0, 0)), t);
            if (t == ElemType.BOOL) throw c.error("not defined for " + t + " inputs");
            return MathOps.one(MathKernels.map(c.in(0), t, t, x -> op.reference(x, 0, 0)), t);
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
