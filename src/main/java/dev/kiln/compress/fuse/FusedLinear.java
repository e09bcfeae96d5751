package dev.kiln.compress.fuse;

import dev.kiln.nn.Module;
import dev.kiln.tensor.Tensor;

/**
 * Inference layer y = act(x W^T + b): the GEMM writes the bias into its output (beta = 1), then
 * the {@link Epilogue} runs in place on that fresh output. Weight [out, in], bias [out] (always
 * present: folding a BatchNorm or merging Linears produces one). Parameters are registered with
 * the usual names ("weight", "bias") but do not require gradients (an inference model); turn
 * them back on with {@code requiresGrad(true)} to fine-tune, which makes the epilogue out of place.
 */
public final class FusedLinear extends Module {
    private final Tensor weight, bias;
    private final Epilogue epilogue;

    /** Takes ownership of weight [out, in] and bias [out]. */
    public FusedLinear(Tensor weight, Tensor bias, Epilogue epilogue) {
        if (weight.dim() != 2 || bias.dim() != 1 || bias.size(0) != weight.size(0))
            throw new IllegalArgumentException("FusedLinear: weight " + dev.kiln.tensor.Shape.str(weight.shape()) + " and bias "
                    + dev.kiln.tensor.Shape.str(bias.shape()) + " do not match");
        this.weight = registerParameter("weight", weight).requiresGrad(false);
        this.bias = registerParameter("bias", bias).requiresGrad(false);
        this.epilogue = epilogue;
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }
    public Epilogue epilogue() { return epilogue; }
    public int inFeatures() { return weight.size(1); }
    public int outFeatures() { return weight.size(0); }

    @Override
    public Tensor forward(Tensor x) {
        return epilogue.finish(dev.kiln.ops.Linear.linear(x, weight, bias));
    }

    @Override protected String extraRepr() {
        return "in_features=" + inFeatures() + ", out_features=" + outFeatures() + ", epilogue=" + epilogue.id();
    }
}
