package dev.kiln.compress.fuse;

import dev.kiln.nn.Module;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Shape;
import dev.kiln.tensor.Tensor;

/**
 * Inference layer y = act(conv2d(x, W) + b): the convolution adds the bias as it writes its
 * output, then the {@link Epilogue} runs in place on that fresh output. Weight
 * [O, C/groups, kh, kw], bias [O]. Parameters do not require gradients (see {@link FusedLinear}).
 */
public final class FusedConv2d extends Module {
    private final Tensor weight, bias;
    private final Conv2dParams params;
    private final Epilogue epilogue;

    /** Takes ownership of weight and bias. */
    public FusedConv2d(Tensor weight, Tensor bias, Conv2dParams params, Epilogue epilogue) {
        if (weight.dim() != 4 || bias.dim() != 1 || bias.size(0) != weight.size(0))
            throw new IllegalArgumentException("FusedConv2d: weight " + Shape.str(weight.shape()) + " and bias " + Shape.str(bias.shape())
                    + " do not match");
        this.weight = registerParameter("weight", weight).requiresGrad(false);
        this.bias = registerParameter("bias", bias).requiresGrad(false);
        this.params = params;
        this.epilogue = epilogue;
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }
    public Conv2dParams params() { return params; }
    public Epilogue epilogue() { return epilogue; }

    @Override
    public Tensor forward(Tensor x) {
        return epilogue.finish(x.conv2d(weight, bias, params));
    }

    @Override protected String extraRepr() {
        return Shape.str(weight.shape()) + ", " + params + ", epilogue=" + epilogue.id();
    }
}
