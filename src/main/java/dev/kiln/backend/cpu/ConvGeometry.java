package dev.kiln.backend.cpu;

import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Tensor;

/**
 * The sizes of one conv2d call, read once from its operands: x [n,c,h,w], weight [o,c/groups,kh,kw],
 * out [n,o,oh,ow], and the stride / padding / dilation pairs. Derived sizes: per-group channels
 * {@link #cg()} and outputs {@link #og()}, the column-matrix height {@link #kg()} = cg*kh*kw and
 * width {@link #p()} = oh*ow.
 */
record ConvGeometry(int n, int c, int h, int w, int o, int groups, int kh, int kw, int oh, int ow,
                    int sh, int sw, int ph, int pw, int dh, int dw) {

    static ConvGeometry of(Tensor x, Tensor weight, Conv2dParams p, Tensor out) {
        int[] xs = x.shape(), ws = weight.shape(), os = out.shape();
        return new ConvGeometry(xs[0], xs[1], xs[2], xs[3], ws[0], p.groups(), ws[2], ws[3], os[2], os[3],
                p.strideH(), p.strideW(), p.padH(), p.padW(), p.dilationH(), p.dilationW());
    }

    int cg() { return c / groups; }
    int og() { return o / groups; }
    int kg() { return cg() * kh * kw; }
    int p() { return oh * ow; }

    /** A 1x1 kernel with stride 1 and no padding: the column matrix is the input plane itself. */
    boolean pointwise() { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }

    /** Multiply-adds per image. */
    long macsPerImage() { return (long) o * kg() * p(); }
}
