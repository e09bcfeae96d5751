package dev.kiln.nn;

import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Generator;
import dev.kiln.tensor.Tensor;

/** 2-d convolution over [N, C, H, W]; weight [O, C/groups, kh, kw]; PyTorch's default init. */
public final class Conv2d extends Module {
    public final int inChannels, outChannels, kernelH, kernelW;
    public final Conv2dParams params;
    private final Tensor weight, bias;

    public Conv2d(int in, int out, int kernel, int stride, int padding) {
        this(in, out, kernel, kernel, new Conv2dParams(stride, stride, padding, padding, 1, 1, 1), true, Generator.global());
    }

    public Conv2d(int in, int out, int kh, int kw, Conv2dParams p, boolean bias, Generator g) {
        if (in % p.groups() != 0 || out % p.groups() != 0)
            throw new IllegalArgumentException("Conv2d: channels in=" + in + " out=" + out + " must be divisible by groups=" + p.groups());
        this.inChannels = in;
        this.outChannels = out;
        this.kernelH = kh;
        this.kernelW = kw;
        this.params = p;
        int fanIn = in / p.groups() * kh * kw;
        this.weight = registerParameter("weight", Init.kaimingUniformDefault(g, fanIn, out, in / p.groups(), kh, kw));
        this.bias = bias ? registerParameter("bias", Init.uniform(g, fanIn > 0 ? 1.0 / Math.sqrt(fanIn) : 0, out)) : null;
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }

    @Override public Tensor forward(Tensor x) { return x.conv2d(weight, bias, params); }

    @Override protected String extraRepr() {
        return inChannels + ", " + outChannels + ", kernel_size=(" + kernelH + ", " + kernelW + "), stride=(" + params.strideH() + ", "
                + params.strideW() + "), padding=(" + params.padH() + ", " + params.padW() + ")";
    }
}
