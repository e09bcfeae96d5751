package dev.kiln.nn;

import dev.kiln.tensor.Tensor;

/** Layer normalization over the trailing normalizedShape dims, with elementwise affine. */
public final class LayerNorm extends Module {
    private final int[] normalizedShape;
    private final double eps;
    private final Tensor weight, bias;

    public LayerNorm(int... normalizedShape) { this(normalizedShape, 1e-5, true); }

    public LayerNorm(int[] normalizedShape, double eps, boolean affine) {
        this.normalizedShape = normalizedShape.clone();
        this.eps = eps;
        this.weight = affine ? registerParameter("weight", Tensor.ones(normalizedShape)) : null;
        this.bias = affine ? registerParameter("bias", Tensor.zeros(normalizedShape)) : null;
    }

    public int[] normalizedShape() { return normalizedShape.clone(); }

    public double eps() { return eps; }

    /** The affine weight, or null without affine. */
    public Tensor weight() { return weight; }

    public Tensor bias() { return bias; }

    @Override public Tensor forward(Tensor x) { return x.layerNorm(normalizedShape, weight, bias, eps); }

    @Override protected String extraRepr() { return java.util.Arrays.toString(normalizedShape) + ", eps=" + eps; }
}
