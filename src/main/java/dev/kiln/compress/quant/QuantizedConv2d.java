package dev.kiln.compress.quant;

import dev.kiln.compress.fuse.Epilogue;
import dev.kiln.nn.Module;
import dev.kiln.ops.Conv2dParams;
import dev.kiln.tensor.Tensor;

import java.util.Arrays;

/**
 * Int8 inference Conv2d over [N, C, H, W] (groups = 1): the float input is unfolded (im2col, zero
 * padding) into rows [N*OH*OW, C*kh*kw], the rows are quantized per tensor (asymmetric; the padding
 * zeros map exactly to the zero point, so unfolding before quantizing is the same as quantizing
 * first), multiplied by the per-output-channel symmetric int8 weight [O, C*kh*kw] through
 * {@link Int8Gemm}, and the float result is laid out back to [N, O, OH, OW]. Static (calibrated
 * {@code act}) or dynamic ({@code act == null}) like {@link QuantizedLinear}.
 */
public final class QuantizedConv2d extends Module {
    private final Int8Weights w;
    private final float[] bias;
    private final Epilogue epilogue;
    private final QParams act;
    private final Conv2dParams p;
    private final int inC, kh, kw;

    public QuantizedConv2d(Tensor weight, Tensor bias, Conv2dParams p, Epilogue epilogue, QParams act) {
        if (weight.dim() != 4) throw new IllegalArgumentException("QuantizedConv2d: weight must be [O, C, kh, kw], got " + Arrays.toString(weight.shape()));
        if (p.groups() != 1) throw new IllegalArgumentException("QuantizedConv2d: only groups = 1 is supported, got " + p.groups());
        int[] ws = weight.shape();
        this.inC = ws[1];
        this.kh = ws[2];
        this.kw = ws[3];
        try (Tensor w2 = weight.reshape(ws[0], inC * kh * kw)) { this.w = new Int8Weights(w2); }
        registerBuffer("weight_int8", w.q);
        this.bias = Int8Weights.floats(bias);
        this.epilogue = epilogue == null ? Epilogue.NONE : epilogue;
        this.act = act;
        this.p = p;
    }

    public QParams inputParams() { return act; }
    public Tensor weightInt8() { return w.q; }
    public Conv2dParams params() { return p; }

    @Override
    public Tensor forward(Tensor x) {
        int[] xs = x.shape();
        if (xs.length != 4 || xs[1] != inC)
            throw new IllegalArgumentException("QuantizedConv2d: input must be [N, " + inC + ", H, W], got " + Arrays.toString(xs));
        int n = xs[0], h = xs[2], wd = xs[3];
        int oh = (h + 2 * p.padH() - p.dilationH() * (kh - 1) - 1) / p.strideH() + 1;
        int ow = (wd + 2 * p.padW() - p.dilationW() * (kw - 1) - 1) / p.strideW() + 1;
        int o = w.q.size(0);
        float[] cols = im2col(x.toFloatArray(), n, h, wd, oh, ow);
        try (Tensor c = Tensor.fromArray(cols, n * oh * ow, inC * kh * kw); Tensor y = w.apply(c, act, bias, epilogue);
             Tensor y4 = y.reshape(n, oh, ow, o); Tensor perm = y4.permute(0, 3, 1, 2)) {
            Tensor out = perm.contiguous();
            return out != perm ? out : perm.clone();
        }
    }

    /** Rows (n, oy, ox), columns (c, ky, kx), zeros outside the image. */
    private float[] im2col(float[] x, int n, int h, int wd, int oh, int ow) {
        int k = inC * kh * kw;
        float[] cols = new float[n * oh * ow * k];
        int row = 0;
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++, row++) {
                    int base = row * k, col = 0;
                    for (int c = 0; c < inC; c++) {
                        int plane = (b * inC + c) * h * wd;
                        for (int ky = 0; ky < kh; ky++) {
                            int iy = oy * p.strideH() - p.padH() + ky * p.dilationH();
                            for (int kx = 0; kx < kw; kx++, col++) {
                                int ix = ox * p.strideW() - p.padW() + kx * p.dilationW();
                                if (iy >= 0 && iy < h && ix >= 0 && ix < wd) cols[base + col] = x[plane + iy * wd + ix];
                            }
                        }
                    }
                }
        return cols;
    }

    @Override protected String extraRepr() {
        return inC + ", " + w.q.size(0) + ", kernel_size=(" + kh + ", " + kw + "), epilogue=" + epilogue.id() + (act == null ? ", dynamic" : "");
    }
}
