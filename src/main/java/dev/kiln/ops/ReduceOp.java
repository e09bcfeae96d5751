package dev.kiln.ops;

import dev.kiln.tensor.Tensor;

/**
 * Reductions over a set of axes, each with its gradient rule (a formula over engine ops; the
 * arg-reductions have none) and the importer names of the ops that reduce the same way. VAR takes
 * its correction (0 = population, 1 = sample) as param. The kernels: {@code backend.cpu.CpuReduce}
 * (every op and dtype) and, for the last axis, {@code kiln_<name>_last_f32} in
 * {@code kernels/reduce.cu}. The ONNX importer still runs its Reduce* ops through a kind list of
 * its own (it has ReduceL1, ReduceL2, ReduceLogSum ... too); the names here are the ones that
 * compute what the engine op computes.
 */
public enum ReduceOp {
    SUM(UnaryOp.Names.of("ReduceSum", "sum", "Sum"), c -> c.g().expand(c.x().shape()).contiguous()),
    MEAN(UnaryOp.Names.of("ReduceMean", "mean", "Mean"), c -> c.g().div((double) c.count()).expand(c.x().shape()).contiguous()),
    // the gradient is shared evenly between tied extremes, as torch.max() does
    MAX(UnaryOp.Names.of("ReduceMax", "amax", "Max"), ReduceOp::extremeGrad),
    MIN(UnaryOp.Names.of("ReduceMin", "amin", "Min"), ReduceOp::extremeGrad),
    PROD(UnaryOp.Names.of("ReduceProd", "prod", "Prod"), c -> c.g().mul(c.y()).div(c.x())),
    VAR(UnaryOp.Names.of(null, null, null), c -> {
        Tensor mean = c.x().mean(c.axes(), true);
        return c.x().sub(mean).mul(c.g()).mul(2.0 / Math.max(c.count() - c.param(), 1));
    }),
    LOGSUMEXP(UnaryOp.Names.of("ReduceLogSumExp", "logsumexp", null), c -> c.g().mul(c.x().sub(c.y()).exp())),
    ARGMAX(UnaryOp.Names.of("ArgMax", "argmax", "ArgMax"), null),
    ARGMIN(UnaryOp.Names.of("ArgMin", "argmin", "ArgMin"), null);

    /** The gradient of x from the kept-dims output y and gradient g (shape x's with the reduced axes 1). */
    @FunctionalInterface
    public interface GradRule { Tensor apply(GradCall c); }

    /** What a reduction's gradient rule gets: x, y and g (reduced axes kept as 1), the axes, how many elements each output reduced, the op's param. */
    public record GradCall(Tensor x, Tensor y, Tensor g, int[] axes, long count, double param) {}

    private final UnaryOp.Names names;
    private final GradRule grad;

    ReduceOp(UnaryOp.Names names, GradRule grad) {
        this.names = names;
        this.grad = grad;
    }

    private static Tensor extremeGrad(GradCall c) {
        Tensor mask = c.x().eq(c.y()).to(c.x().dtype());
        Tensor ties = mask.sum(c.axes(), true);
        return mask.mul(c.g().div(ties));
    }

    /** The importers' names for this reduction. */
    public UnaryOp.Names names() { return names; }

    /** Whether the reduction has a gradient (the arg-reductions have none). */
    public boolean hasGradient() { return grad != null; }

    /** The gradient of x (see {@link GradCall}). */
    public Tensor gradient(Tensor x, Tensor y, Tensor g, int[] axes, long count, double param) {
        if (grad == null) throw new IllegalStateException(this + " has no gradient");
        return grad.apply(new GradCall(x, y, g, axes, count, param));
    }
}
