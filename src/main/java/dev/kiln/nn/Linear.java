package dev.kiln.nn;

import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

/** y = x W^T + b; weight [out, in], PyTorch's default init (U(+-1/sqrt(in)) for both). */
public final class Linear extends Module {
    public final int inFeatures, outFeatures;
    private final Tensor weight, bias;

    public Linear(int in, int out) { this(in, out, true, Generator.global()); }

    public Linear(int in, int out, boolean bias, Generator g) {
        this.inFeatures = in;
        this.outFeatures = out;
        this.weight = registerParameter("weight", Init.kaimingUniformDefault(g, in, out, in));
        this.bias = bias ? registerParameter("bias", Init.uniform(g, in > 0 ? 1.0 / Math.sqrt(in) : 0, out)) : null;
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }

    @Override public Tensor forward(Tensor x) { return dev.kiln.ops.Linear.linear(x, weight, bias); }

    @Override protected String extraRepr() { return "in_features=" + inFeatures + ", out_features=" + outFeatures + ", bias=" + (bias != null); }
}
