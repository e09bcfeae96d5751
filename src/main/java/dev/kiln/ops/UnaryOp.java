package dev.kiln.ops;

import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * The elementwise unary ops, each defined in one place: its float64 reference (what every
 * kernel is tested against, and what the CPU runs where it has no vector form), its rule on
 * integer dtypes (or none: integers are computed in float), its gradient (a formula over engine
 * ops, so it runs on every backend) and the names under which the ONNX, TorchScript and
 * TensorFlow (SavedModel) importers map their ops onto it. The kernels live with their backends:
 * the CPU's vector forms in {@code backend.cpu.ElemUnary} (optional: without one the CPU runs the
 * reference per element), the CUDA kernels {@code kiln_<name>_f32/_f64} in
 * {@code kernels/elementwise.cu}. {@link dev.kiln.optable.OpTable} lists what each op has where.
 *
 * <p>CLAMP uses (a = min, b = max); POW_SCALAR uses a as the exponent. ROUND rounds half to even;
 * SIGN keeps +-0 and NaN; FLOOR, CEIL, ROUND and SIGN keep integer dtypes (identity / signum there).
 *
 * <p>Adding an op: a constant here, its CUDA kernel in {@code kernels/elementwise.cu}, and a row in
 * the op test; a CPU vector form in {@code ElemUnary} when it is hot.
 */
public enum UnaryOp {
    NEG(names("Neg", "neg", "Neg"), (x, a, b) -> -x, (v, a, b) -> -v, c -> c.g().neg()),
    ABS(names("Abs", "abs", "Abs"), (x, a, b) -> Math.abs(x), (v, a, b) -> Math.abs(v), c -> c.g().mul(ElementwiseGrad.sign(c.x()))),
    EXP(names("Exp", "exp", "Exp"), (x, a, b) -> Math.exp(x), null, c -> c.g().mul(c.y())),
    LOG(names("Log", "log", "Log"), (x, a, b) -> Math.log(x), null, c -> c.g().div(c.x())),
    SQRT(names("Sqrt", "sqrt", "Sqrt"), (x, a, b) -> Math.sqrt(x), null, c -> c.g().div(c.y()).mul(0.5)),
    RSQRT(names(null, "rsqrt", null), (x, a, b) -> 1 / Math.sqrt(x), null, c -> c.g().mul(c.y().pow(3)).mul(-0.5)),
    TANH(names("Tanh", "tanh tanh_", "Tanh"), (x, a, b) -> Math.tanh(x), null, c -> c.g().mul(c.y().square().neg().add(1.0))),
    SIGMOID(names("Sigmoid", "sigmoid sigmoid_", "Sigmoid"), (x, a, b) -> ScalarMath.sigmoid(x), null,
            c -> c.g().mul(c.y().mul(c.y().neg().add(1.0)))),
    RELU(names("Relu", "relu relu_", "Relu"), (x, a, b) -> x > 0 || x != x ? x : 0.0, (v, a, b) -> Math.max(v, 0),
            c -> ElementwiseGrad.reluGrad(c.g(), c.x())),
    GELU(names(null, null, null), (x, a, b) -> x * ScalarMath.phi(x), null, ElementwiseGrad::gelu),
    GELU_TANH(names(null, null, null), (x, a, b) -> ScalarMath.geluTanh(x), null, ElementwiseGrad::geluTanh),
    SILU(names(null, "silu silu_", null), (x, a, b) -> x * ScalarMath.sigmoid(x), null, ElementwiseGrad::silu),
    SIN(names("Sin", "sin", "Sin"), (x, a, b) -> Math.sin(x), null, c -> c.g().mul(c.x().cos())),
    COS(names("Cos", "cos", "Cos"), (x, a, b) -> Math.cos(x), null, c -> c.g().mul(c.x().sin()).neg()),
    POW_SCALAR(names(null, null, null), (x, a, b) -> Math.pow(x, a), null, c -> c.g().mul(c.x().pow(c.a() - 1)).mul(c.a())),
    CLAMP(names(null, null, null), (x, a, b) -> Math.min(Math.max(x, a), b), (v, a, b) -> v < a ? (long) a : v > b ? (long) b : v,
            c -> c.g().mul(c.x().ge(Tensor.scalar(c.a(), c.x().dtype())).mul(c.x().le(Tensor.scalar(c.b(), c.x().dtype()))))),
    RECIPROCAL(names("Reciprocal", "reciprocal", "Reciprocal Inv"), (x, a, b) -> 1 / x, null, c -> c.g().mul(c.y().square()).neg()),
    SQUARE(names(null, "square", null), (x, a, b) -> x * x, (v, a, b) -> v * v, c -> c.g().mul(c.x()).mul(2.0)),
    // d/dx erf(x) = 2/sqrt(pi) e^(-x^2)
    ERF(names("Erf", "erf", "Erf"), (x, a, b) -> ScalarMath.erf(x), null,
            c -> c.g().mul(c.x().square().neg().exp().mul(1.1283791670955126))),
    // piecewise constant: zero gradient almost everywhere
    FLOOR(names("Floor", "floor", "Floor"), (x, a, b) -> Math.floor(x), (v, a, b) -> v, c -> c.g().mul(0.0)),
    CEIL(names("Ceil", "ceil", "Ceil"), (x, a, b) -> Math.ceil(x), (v, a, b) -> v, c -> c.g().mul(0.0)),
    ROUND(names("Round", "round", "Round"), (x, a, b) -> Math.rint(x), (v, a, b) -> v, c -> c.g().mul(0.0)),
    SIGN(names("Sign", "sign", "Sign"), (x, a, b) -> Math.signum(x), (v, a, b) -> Long.signum(v), c -> c.g().mul(0.0)),
    // log(1 + e^x) without overflow; d/dx = sigmoid(x)
    SOFTPLUS(names("Softplus", null, null), (x, a, b) -> Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), null,
            c -> c.g().mul(c.x().sigmoid()));

    /** op(x) in double; a, b: the op's scalar parameters. */
    @FunctionalInterface
    public interface Reference { double apply(double x, double a, double b); }

    /** op(v) on an integer value. */
    @FunctionalInterface
    public interface IntRule { long apply(long v, double a, double b); }

    /** The gradient of x from {@link GradCall}'s tensors. */
    @FunctionalInterface
    public interface GradRule { Tensor apply(GradCall c); }

    /** What a gradient rule gets: the input x, the output y, the output's gradient g, the op's parameters. */
    public record GradCall(Tensor x, Tensor y, Tensor g, double a, double b) {}

    /** The importers' names for an op: ONNX (one op), TorchScript (aten builtins), TensorFlow (raw ops). */
    public record Names(String onnx, List<String> torchscript, List<String> tensorflow) {
        /** Names from space-separated lists (null: none). */
        static Names of(String onnx, String torchscript, String tensorflow) {
            return new Names(onnx, split(torchscript), split(tensorflow));
        }

        /** A space-separated list (null: empty). */
        static List<String> split(String s) { return s == null ? List.of() : List.of(s.split(" ")); }
    }

    private final Names names;
    private final Reference reference;
    private final IntRule ints;
    private final GradRule grad;

    UnaryOp(Names names, Reference reference, IntRule ints, GradRule grad) {
        this.names = names;
        this.reference = reference;
        this.ints = ints;
        this.grad = grad;
    }

    private static Names names(String onnx, String torchscript, String tensorflow) { return Names.of(onnx, torchscript, tensorflow); }

    /** op(x) in double: the float64 reference. */
    public double reference(double x, double a, double b) { return reference.apply(x, a, b); }

    /** Whether the op keeps an integer dtype ({@link #onInt}); the others compute in float (ints are cast to F32 first). */
    public boolean keepsIntType() { return ints != null; }

    /** op(v) on an integer value; only for ops that {@link #keepsIntType}. */
    public long onInt(long v, double a, double b) {
        if (ints == null) throw new IllegalArgumentException(name().toLowerCase() + ": not defined on integers");
        return ints.apply(v, a, b);
    }

    /** The gradient of x: g times the derivative at x (y = op(x)). */
    public Tensor gradient(Tensor x, Tensor y, Tensor g, double a, double b) { return grad.apply(new GradCall(x, y, g, a, b)); }

    /** The importers' names for this op. */
    public Names names() { return names; }

    /** The op with this ONNX name, or null. */
    public static UnaryOp ofOnnx(String name) {
        for (UnaryOp op : values()) if (name.equals(op.names.onnx())) return op;
        return null;
    }
}
