package dev.kiln.ops;

import dev.kiln.tensor.Tensor;

import java.util.List;

/**
 * Elementwise binary ops with broadcasting, each defined in one place: its float64 reference,
 * its rule on integers (or none: not defined on integer dtypes), the gradients of both operands
 * (formulas over engine ops; comparisons have none), and the ONNX, TorchScript and TensorFlow
 * names of the importer ops that run as it. Comparisons produce BOOL. Unlike the unary ops, the
 * importers register these names with handlers of their own (ONNX Max/Min/Sum are variadic, Pow
 * takes mixed types, aten add has an alpha), so the names here are what the op table shows and
 * what its test checks against the importers' registries. Kernels: {@code backend.cpu.ElemBinary}
 * (vector, F32/F64), {@code ElemInt} (integers), {@code kiln_<name>_f32/_f64} in
 * {@code kernels/elementwise.cu}.
 */
public enum BinaryOp {
    ADD(names("Add Sum", "add add_", "Add AddV2"), (x, y) -> x + y, Long::sum, c -> c.g(), c -> c.g()),
    SUB(names("Sub", "sub sub_", "Sub"), (x, y) -> x - y, (x, y) -> x - y, c -> c.g(), c -> c.g().neg()),
    MUL(names("Mul", "mul mul_", "Mul"), (x, y) -> x * y, (x, y) -> x * y, c -> c.g().mul(c.b()), c -> c.g().mul(c.a())),
    DIV(names("Div", "div div_ true_divide", "RealDiv"), (x, y) -> x / y, null, c -> c.g().div(c.b()),
            c -> c.g().mul(c.a()).div(c.b().square()).neg()),
    MAX(names("Max", "maximum", "Maximum"), Math::max, Math::max, c -> c.g().mul(c.a().ge(c.b())), c -> c.g().mul(c.b().gt(c.a()))),
    MIN(names("Min", "minimum", "Minimum"), Math::min, Math::min, c -> c.g().mul(c.a().le(c.b())), c -> c.g().mul(c.b().lt(c.a()))),
    POW(names("Pow", "pow", "Pow"), Math::pow, null, c -> c.g().mul(c.b()).mul(c.a().pow(c.b().sub(1.0))),
            c -> c.g().mul(c.y()).mul(c.a().log())),
    EQ(names("Equal", "eq", "Equal"), (x, y) -> x == y ? 1 : 0, (x, y) -> x == y ? 1 : 0, null, null),
    NE(names(null, "ne", "NotEqual"), (x, y) -> x != y ? 1 : 0, (x, y) -> x != y ? 1 : 0, null, null),
    LT(names("Less", "lt", "Less"), (x, y) -> x < y ? 1 : 0, (x, y) -> x < y ? 1 : 0, null, null),
    LE(names("LessOrEqual", "le", "LessEqual"), (x, y) -> x <= y ? 1 : 0, (x, y) -> x <= y ? 1 : 0, null, null),
    GT(names("Greater", "gt", "Greater"), (x, y) -> x > y ? 1 : 0, (x, y) -> x > y ? 1 : 0, null, null),
    GE(names("GreaterOrEqual", "ge", "GreaterEqual"), (x, y) -> x >= y ? 1 : 0, (x, y) -> x >= y ? 1 : 0, null, null);

    /** a op b in double (comparisons: 1 or 0). */
    @FunctionalInterface
    public interface Reference { double apply(double a, double b); }

    /** a op b on integers (comparisons: 1 or 0). */
    @FunctionalInterface
    public interface IntRule { long apply(long a, long b); }

    /** One operand's gradient, before it is summed over broadcast dimensions. */
    @FunctionalInterface
    public interface GradRule { Tensor apply(GradCall c); }

    /** What a gradient rule gets: the operands a and b (broadcast), the output y and its gradient g. */
    public record GradCall(Tensor a, Tensor b, Tensor y, Tensor g) {}

    private final UnaryOp.Names names;
    private final Reference reference;
    private final IntRule ints;
    private final GradRule gradA, gradB;

    BinaryOp(UnaryOp.Names names, Reference reference, IntRule ints, GradRule gradA, GradRule gradB) {
        this.names = names;
        this.reference = reference;
        this.ints = ints;
        this.gradA = gradA;
        this.gradB = gradB;
    }

    private static UnaryOp.Names names(String onnx, String torchscript, String tensorflow) {
        return UnaryOp.Names.of(onnx, torchscript, tensorflow);
    }

    public boolean isComparison() { return ordinal() >= EQ.ordinal(); }

    /** a op b in double: the float64 reference (comparisons 1 or 0). */
    public double reference(double a, double b) { return reference.apply(a, b); }

    /** Whether the op is defined on integer dtypes ({@link #onInt}). */
    public boolean definedOnInts() { return ints != null; }

    /** a op b on integers; only for ops {@link #definedOnInts}. */
    public long onInt(long a, long b) {
        if (ints == null) throw new IllegalArgumentException(name().toLowerCase() + ": not defined on integers");
        return ints.apply(a, b);
    }

    /** Whether the op has gradients (the comparisons have none). */
    public boolean hasGradient() { return gradA != null; }

    /** The gradient of operand a (before summing over broadcast dimensions). */
    public Tensor gradientA(Tensor a, Tensor b, Tensor y, Tensor g) { return grad(gradA, a, b, y, g); }

    /** The gradient of operand b (before summing over broadcast dimensions). */
    public Tensor gradientB(Tensor a, Tensor b, Tensor y, Tensor g) { return grad(gradB, a, b, y, g); }

    private Tensor grad(GradRule r, Tensor a, Tensor b, Tensor y, Tensor g) {
        if (r == null) throw new IllegalStateException(this + " has no gradient");
        return r.apply(new GradCall(a, b, y, g));
    }

    /**
     * The importers' names for this op: the ONNX names (space-separated in {@link UnaryOp.Names#onnx}:
     * "Add Sum" for ADD, whose variadic Sum folds with it), aten builtins and TF raw ops.
     */
    public UnaryOp.Names names() { return names; }

    /** The ONNX op names, split. */
    public List<String> onnxNames() { return UnaryOp.Names.split(names.onnx()); }
}
